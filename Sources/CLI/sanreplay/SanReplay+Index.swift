import ArgumentParser
import SanTraceStore

extension SanReplay {
    struct Index: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build the events table so plain sqlite3 can query every event.",
            discussion: """
                Writes one row per event into the trace's `events` table (seq, segment, kind,
                function, thread, thread_seq, tsc, t_ns, socket, ov, ret, status, bytes,
                start_seq, latency_ns), indexes by socket/function/time and by function/time,
                and the view `events_named`. Rebuilds it when it exists. Why on demand rather
                than while recording: Docs/TraceFormat.md §Event index.

                EXAMPLES
                  sanreplay index run/client.santrace
                  sqlite3 run/client.santrace "select function, count(*), avg(latency_ns)
                    from events_named where kind='leave' group by 1"
                """)

        @OptionGroup var input: TraceSetInputOptions

        func run() throws {
            let out = Output()
            for path in try TraceSet.paths(self.input.trace) {
                _ = try TraceReader(path: path)  // checks the file before writing to it
                let rows = try EventIndexer.build(path: path)
                out.line("\(path): indexed \(formatCount(rows)) events")
            }
            out.flush()
        }
    }
}
