import ArgumentParser
import JSONText
import SanDiff
import SanReport
import SanTraceFormat
import SanTraceStore

extension SanReplay {
    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write one self-contained HTML report of a run, or of two runs compared.",
            discussion: """
                The page holds latency CDFs per function and size class, throughput and
                outstanding operations over time, and for two runs (A the baseline, B the
                candidate) the diff table with regressions highlighted, the semantic verdict
                and the first divergence. Everything is inline (CSS and SVG, no script, nothing
                fetched): open it in any browser, attach it to a CI run. A and B are traces or
                trace sets (folders; a set is drawn merged, the diff pairs its endpoints). The
                exit code is the diff's when B is given (0 equal, 1 divergence, 3 regression, 4
                both), else 0.

                EXAMPLES
                  sanreplay report run/client.santrace -o client.html
                  sanreplay report baseline/ candidate/ -o report.html --threshold 10
                """)

        @Argument(help: ArgumentHelp("A run: a trace or a folder of traces (the baseline when B is given).", valueName: "A"))
        var a: String
        @Argument(help: ArgumentHelp("Optional second run to compare with A.", valueName: "B"))
        var b: String?
        @Option(name: .shortAndLong, help: ArgumentHelp("The HTML file to write (- for standard output).", valueName: "FILE"))
        var output: String
        @Option(help: ArgumentHelp("Regression threshold in percent (as diff).", valueName: "PCT"))
        var threshold: Double = 5
        @Option(help: ArgumentHelp("Significance level (as diff).", valueName: "A"))
        var alpha: Double = 0.05
        @OptionGroup var out: OutputOptions

        func validate() throws {
            guard self.threshold.isFinite, self.threshold >= 0 else { throw ValidationError("--threshold must be a percentage ≥ 0") }
            guard self.alpha > 0, self.alpha < 1 else { throw ValidationError("--alpha must be between 0 and 1") }
        }

        func run() throws {
            let total = try TraceSet.paths(self.a).reduce(UInt64(0)) { $0 + (try TraceReader(path: $1).eventCount) }
                + (try self.b.map { try TraceSet.paths($0).reduce(UInt64(0)) { $0 + (try TraceReader(path: $1).eventCount) } } ?? 0)
            let bar = ProgressBar(total: self.b == nil ? total : 2 * total, label: "report")
            let runA = try RunData.gather(self.a, label: "A " + self.a, progress: bar.callback)
            let runB = try self.b.map { try RunData.gather($0, label: "B " + $0, progress: bar.callback) }
            var diff: DiffReport?
            if let b = self.b {
                var o = DiffOptions()
                o.threshold = self.threshold / 100
                o.alpha = self.alpha
                o.progress = bar.callback
                diff = try TraceDiff.run(a: self.a, b: b, options: o)
            }
            bar.finish()
            let file = try OutputFile(path: self.output)
            file.write(HTMLReport.render(runA, runB, diff: diff))
            try file.close()
            let line = Output()
            if self.out.json {
                var o = JSONObject()
                o.add("output", self.output)
                o.add("verdict", diff?.verdict.rawValue ?? "-")
                o.add("events", runA.events + (runB?.events ?? 0))
                line.line(o.text)
            } else if self.output != "-" {
                line.line("\(self.output): report of \(self.b == nil ? self.a : "\(self.a) vs \(self.b!)")"
                          + (diff.map { " — \($0.verdict.rawValue)" } ?? ""))
            }
            line.flush()
            switch diff?.verdict {
            case .divergence?: throw SanReplayExit.differences.exitCode
            case .regression?: throw SanReplayExit.regression.exitCode
            case .divergenceAndRegression?: throw SanReplayExit.divergenceAndRegression.exitCode
            default: return
            }
        }
    }
}
