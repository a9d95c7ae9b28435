import ArgumentParser
import SanDiff
import SanTraceFormat
import SanTraceStore

extension SanReplay {
    struct Diff: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare two runs: semantic divergences and performance regressions.",
            discussion: """
                A is the baseline, B the candidate; each a trace, a trace set (a folder of
                traces) or a folder of runs (trace sets in subfolders: base/1/, base/2/ …).
                Endpoints of trace sets are paired by program name and role (listener /
                connector / both / local), in start order; two single traces are always paired
                (Docs/Analysis.md).

                Semantic: per thread, calls are aligned on function and socket after
                normalizing capture ids (by first appearance per thread and kind), then
                compared: missing and extra calls, status and error, byte counts, payload
                checksums (when both traces hold hashes), other arguments, completions and
                their order. Polls that returned WSA_IO_INCOMPLETE and upcalls are
                timing-dependent: not divergences.

                Performance: per function and size class, latency (enter → leave; start →
                completion for overlapped operations) p50/p90/p99/p99.9 and throughput, the
                change of the median with a Mann–Whitney U test (~ = not significant). A
                regression is significant at --alpha and slower by more than --threshold
                percent.

                One run per side tests the calls of two runs: it tells whether these runs
                differ, and on a busy machine they often do. With several runs per side (5
                or more), each run contributes its median per function and size, and the
                test compares the runs, as benchstat does: semantic comparison is then of the
                first runs.

                EXIT CODES
                  0 equal   1 semantic divergence   3 performance regression only
                  4 divergence and regression   2 damaged or unreadable trace   64 usage

                EXAMPLES
                  sanreplay diff run1/client.santrace run2/client.santrace
                  sanreplay diff baseline/ candidate/ --threshold 10 --json > diff.json
                  sanreplay diff baseline/ candidate/ || echo "exit $?: 1, 3 or 4"
                  for i in 1 2 3 4 5; do sanreplay replay rec/ --record base/$i; done
                  sanreplay diff base/ new/        # base/1 … base/5 against new/1 … new/5
                """)

        @Argument(help: ArgumentHelp("The baseline: a trace, a folder of traces, or a folder of runs.", valueName: "A"))
        var a: String
        @Argument(help: ArgumentHelp("The candidate: a trace, a folder of traces, or a folder of runs.", valueName: "B"))
        var b: String
        @Option(help: ArgumentHelp("Regression threshold: a median slowdown beyond this many percent.", valueName: "PCT"))
        var threshold: Double = 5
        @Option(help: ArgumentHelp("Significance level of the Mann–Whitney U test.", valueName: "A"))
        var alpha: Double = 0.05
        @Option(help: ArgumentHelp("Divergences listed in detail (all are counted).", valueName: "N"))
        var details: Int = 50
        @Option(help: ArgumentHelp("Events shown around the first divergence, before and after.", valueName: "N"))
        var context: Int = 3
        @OptionGroup var output: OutputOptions
        @OptionGroup var terminal: TerminalOptions

        func validate() throws {
            guard self.threshold.isFinite, self.threshold >= 0 else { throw ValidationError("--threshold must be a percentage ≥ 0") }
            guard self.alpha > 0, self.alpha < 1 else { throw ValidationError("--alpha must be between 0 and 1") }
            guard self.details >= 0, self.context >= 0 else { throw ValidationError("--details and --context must be ≥ 0") }
        }

        func run() throws {
            var options = DiffOptions()
            options.threshold = self.threshold / 100
            options.alpha = self.alpha
            options.maxDetails = self.details
            options.contextEvents = self.context
            let (runsA, runsB) = (try TraceSet.runs(self.a), try TraceSet.runs(self.b))
            let pairing = EndpointPairing.match(try TraceDiff.endpoints(runsA[0]), try TraceDiff.endpoints(runsB[0]))
            let bar = ProgressBar(total: TraceDiff.events(pairing), label: "diff")
            options.progress = bar.callback
            let report = try TraceDiff.run(pairing, a: self.a, b: self.b, options: options, runsA: runsA, runsB: runsB)
            bar.finish()
            let out = Output()
            if self.output.json {
                out.line(report.json.text)
            } else {
                for l in report.textLines(style: self.terminal.style) { out.line(l) }
            }
            out.flush()
            switch report.verdict {
            case .equal: return
            case .divergence: throw SanReplayExit.differences.exitCode
            case .regression: throw SanReplayExit.regression.exitCode
            case .divergenceAndRegression: throw SanReplayExit.divergenceAndRegression.exitCode
            }
        }
    }
}
