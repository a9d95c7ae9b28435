import ArgumentParser
import SanTraceFormat
import SanTraceStore

#if canImport(Glibc)
import Glibc
#endif

extension SanReplay {
    struct Synthesize: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "synthesize",
            abstract: "Write a synthetic trace of a sanperf-like workload (for tests and benchmarks).",
            discussion: """
                Deterministic for a given --seed. Workloads: write_bw (RDMA writes polled with
                WSPGetOverlappedResult), pingpong (send/recv with upcall completions), churn
                (registration churn), mixed (three threads, one of each).

                Variations for testing `diff`: --timing-seed gives another run of the same
                program (other delays and polls, same calls), --slow FN=FACTOR makes a
                function's calls and operations slower (an injected regression),
                --fail-rdma-write N makes the Nth RDMA write fail (an injected semantic
                change).

                EXAMPLES
                  sanreplay synthesize --workload write_bw --events 1000000 /tmp/wbw.santrace
                  sanreplay synthesize --workload write_bw --timing-seed 2 \\
                    --slow WSPRdmaWrite=1.5 /tmp/slow.santrace
                """,
            shouldDisplay: false)

        @Option(help: "write_bw, pingpong, churn or mixed.")
        var workload: String = "mixed"
        @Option(help: "How many events (at least).")
        var events: Int = 100_000
        @Option(help: ArgumentHelp("Instead of --events: run each thread's loop exactly N times (one run of a deterministic program, whatever its timing).", valueName: "N"))
        var iterations: UInt64?
        @Option(help: "Seed of the generator.")
        var seed: UInt64 = 1
        @Option(help: ArgumentHelp("Record live through a TraceRecorder for this many seconds instead (SIGINT/SIGTERM flush and stop it; for crash tests).", valueName: "SECONDS"))
        var liveSeconds: Double?
        @Option(help: ArgumentHelp("Cut segments at this many KiB of raw records (default 1024).", valueName: "KIB"))
        var segmentKib: Int = 1024
        @Option(name: .customLong("timing-seed"), help: ArgumentHelp("Seed of the timing draws only (another run of the same program).", valueName: "N"))
        var timingSeed: UInt64?
        @Option(name: .customLong("slow"), help: ArgumentHelp("Make FN's calls and operations FACTOR times slower; repeatable.", valueName: "FN=FACTOR"))
        var slow: [String] = []
        @Option(name: .customLong("fail-rdma-write"), help: ArgumentHelp("Make the Nth RDMA write (from 0) fail with WSAECONNRESET.", valueName: "N"))
        var failRdmaWrite: UInt64?
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
            guard self.segmentKib >= 1 else { throw ValidationError("--segment-kib must be positive") }
            _ = try self.variation()
        }

        /// The variation the options ask for.
        func variation() throws -> SyntheticVariation {
            var v = SyntheticVariation(timingSeed: self.timingSeed, failRdmaWriteAt: self.failRdmaWrite)
            for item in self.slow {
                let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, let f = FunctionID(name: parts[0]), let x = Double(parts[1]), x > 0, x.isFinite else {
                    throw ValidationError("--slow takes FN=FACTOR with a known function and a positive factor, not '\(item)'")
                }
                v.slowdown[f] = x
            }
            return v
        }

        func run() throws {
            if let seconds = self.liveSeconds { return try self.runLive(seconds) }
            var options = TraceWriterOptions()
            options.overwrite = self.force
            options.segmentRawBytes = self.segmentKib << 10
            if self.index { options.indexEventsAtClose = Int.max }
            let meta = TraceMetadata(argv: ["sanreplay", "synthesize", "--workload", self.workload],
                                     providerPath: "synthetic", providerVersion: "0", clock: SyntheticWorkload.clock)
            let writer = try TraceWriter(path: self.output, metadata: meta, options: options)
            var gen = SyntheticWorkload(SyntheticWorkload.Kind(rawValue: self.workload)!, seed: self.seed,
                                        variation: try self.variation())
            let n = try self.iterations.map { try gen.generate(into: writer, iterationsPerThread: $0) }
                ?? gen.generate(into: writer, events: self.events)
            try writer.close()
            let out = Output()
            out.line("\(self.output): \(formatCount(UInt64(n))) events in \(writer.segmentsCommitted) segments")
            out.flush()
        }

        /// Live mode: events go through the multi-producer front end, paced to real time, with the
        /// signal flush installed — what a recorded process looks like to the store.
        func runLive(_ seconds: Double) throws {
            var options = TraceWriterOptions()
            options.overwrite = self.force
            let meta = TraceMetadata(argv: ["sanreplay", "synthesize", "--live-seconds", String(seconds)],
                                     providerPath: "synthetic", providerVersion: "0", clock: .measure())
            let recorder = try TraceRecorder(writer: TraceWriter(path: self.output, metadata: meta, options: options))
            TraceExitHooks.installSignalFlush()
            let sink = RecorderSink(recorder)
            var gen = SyntheticWorkload(SyntheticWorkload.Kind(rawValue: self.workload)!, seed: self.seed)
            let out = Output()
            out.line("recording \(self.output) for \(seconds) s (pid \(getpid()))")
            out.flush()
            let start = monotonicSeconds()
            var n = 0
            while monotonicSeconds() - start < seconds && n < self.events {
                n += try gen.generate(into: sink, events: 1000)
                usleep(1000)
            }
            try recorder.close()
            out.line("\(self.output): \(formatCount(UInt64(n))) events")
            out.flush()
        }
    }
}

/// Feeds generated events to a TraceRecorder (one recorder thread per generator thread).
final class RecorderSink: EventSink {
    let recorder: TraceRecorder
    let builder = SegmentBuilder()
    var threads: [UInt32: RecorderThread] = [:]
    var record = EventRecord()

    init(_ recorder: TraceRecorder) {
        self.recorder = recorder
        self.builder.reset(firstSequence: 0)
    }

    func append(_ kind: EventKind, _ function: FunctionID, thread: UInt32, threadSeq: UInt64, tsc: UInt64,
                fields: (inout EventFieldWriter) throws -> Void) throws {
        if self.builder.rawBytes > 1 << 20 { self.builder.reset(firstSequence: 0) }
        try self.builder.append(kind, function, thread: thread, threadSeq: threadSeq, tsc: tsc, fields: fields)
        self.builder.decodeLast(into: &self.record, kind, function, thread: thread, threadSeq: threadSeq, tsc: tsc, sequence: 0)
        let e = TraceEvent(self.record)
        let t = self.threads[thread] ?? self.recorder.makeThread(name: "synthetic \(thread)")
        self.threads[thread] = t
        self.recorder.record(t, kind, function, fields: e.fields)
    }
}

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
