import ArgumentParser
import SanTraceStore

extension SanReplay {
    struct Synthesize: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "synthesize",
            abstract: "Write a synthetic trace of a sanperf-like workload (for tests and benchmarks).",
            discussion: """
                Deterministic for a given --seed. Workloads: write_bw (RDMA writes polled with
                WSPGetOverlappedResult), pingpong (send/recv with upcall completions), churn
                (registration churn), mixed (three threads, one of each).

                EXAMPLES
                  sanreplay synthesize --workload write_bw --events 1000000 /tmp/wbw.santrace
                """,
            shouldDisplay: false)

        @Option(help: "write_bw, pingpong, churn or mixed.")
        var workload: String = "mixed"
        @Option(help: "How many events (at least).")
        var events: Int = 100_000
        @Option(help: "Seed of the generator.")
        var seed: UInt64 = 1
        @Flag(help: "Build the events table at close.")
        var index = false
        @Flag(help: "Replace OUTPUT if it exists.")
        var force = false
        @Argument(help: ArgumentHelp("The trace to write.", valueName: "OUTPUT"))
        var output: String

        func validate() throws {
            guard SyntheticWorkload.Kind(rawValue: self.workload) != nil else {
                throw ValidationError("unknown workload '\(self.workload)' (write_bw, pingpong, churn, mixed)")
            }
            guard self.events > 0 else { throw ValidationError("--events must be positive") }
        }

        func run() throws {
            var options = TraceWriterOptions()
            options.overwrite = self.force
            if self.index { options.indexEventsAtClose = Int.max }
            let meta = TraceMetadata(argv: ["sanreplay", "synthesize", "--workload", self.workload],
                                     providerPath: "synthetic", providerVersion: "0", clock: SyntheticWorkload.clock)
            let writer = try TraceWriter(path: self.output, metadata: meta, options: options)
            var gen = SyntheticWorkload(SyntheticWorkload.Kind(rawValue: self.workload)!, seed: self.seed)
            let n = try gen.generate(into: writer, events: self.events)
            try writer.close()
            let out = Output()
            out.line("\(self.output): \(formatCount(UInt64(n))) events in \(writer.segmentsCommitted) segments")
            out.flush()
        }
    }
}
