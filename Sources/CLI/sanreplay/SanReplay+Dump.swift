import ArgumentParser
import SanTraceFormat
import SanTraceStore

extension SanReplay {
    struct Dump: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print events one per line, like strace.",
            discussion: """
                Each line: sequence, seconds since the first event, thread, then
                  > F(args)           an ENTER
                  < F ret=… err=…     a LEAVE (with <latency>)
                  ^ F(args)           an UPCALL
                  * completion F …    a COMPLETION (with <latency>)
                  ? lookup …          an extension look-up
                Functions, flags, ioctl codes, socket options and WSA errors are named. Filters
                are pushed down to the segment index: only segments that may match are decoded.
                --json prints JSON Lines (keys: seq, t_ns, tsc, thread, thread_seq, kind,
                function, fields, start_seq, latency_ns).

                EXAMPLES
                  sanreplay dump run/client.santrace | head
                  sanreplay dump run/client.santrace --fn WSPRdmaWrite --socket 3 --from 1s
                  sanreplay dump run/client.santrace --errors --json | jq .fields.err
                """)

        @OptionGroup var input: TraceInputOptions
        @OptionGroup var filters: EventFilterOptions
        @OptionGroup var output: OutputOptions
        @Option(name: .long, help: "Stop after this many events.")
        var limit: Int?

        func run() throws {
            let reader = try TraceReader(path: self.input.trace)
            let cursor = try reader.cursor(self.filters.filter(for: reader))
            var formatter = EventFormatter(reader: reader)
            let out = Output()
            var r = EventRecord()
            var n = 0
            while try cursor.next(into: &r) {
                if let l = self.limit, n >= l { break }
                out.line(self.output.json ? formatter.json(r) : formatter.line(r))
                n += 1
            }
            out.flush()
        }
    }
}
