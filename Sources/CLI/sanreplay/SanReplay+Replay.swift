import ArgumentParser
import SanReplay
import SanTraceFormat
import SanTraceStore

#if canImport(Glibc)
import Glibc
#endif

extension SanReplay {
    struct Replay: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-execute a trace or trace set against a backend, checking every result and byte.",
            discussion: """
                Every recorded process becomes one endpoint (threads of this process by
                default). Connections are paired by the recorded addresses, RDMA descriptors by
                their bytes; capture ids map to live sockets, handles, descriptors, overlapped
                structures and buffers. Each thread replays in its recorded order and waits
                where the application waited for a completion. Return values, WSA errors, byte
                counts and completion statuses are compared with the recording; payloads are
                generated (or, for a `full` trace, taken from it) and checked where they land.
                A trace with only one side of a connection gets a synthesized peer. Details:
                Docs/Replay.md.

                --pace: asap (default), recorded (the recorded gaps between calls of each
                thread), or xFACTOR (gaps × FACTOR: x2 is twice as slow).

                Across machines: run one endpoint per process with --endpoint NAME
                --coordinator HOST:PORT; one of them (or a process with only
                --serve-coordinator) also passes --serve-coordinator HOST:PORT.

                EXIT CODES: 0 nothing diverged, 1 a divergence (or a stuck wait), 2 a damaged
                or unreadable trace, 64 a usage error (bad options, a backend that cannot be
                loaded).

                EXAMPLES
                  sanreplay replay run/ --backend tcp
                  sanreplay replay run/ --backend null --divergence report --json
                  sanreplay replay run/ --backend tcp --pace recorded --record replayed/
                  sanreplay replay run/ --endpoint sanperf-1234 --coordinator 10.0.0.1:7000 \\
                    --serve-coordinator 0.0.0.0:7000
                """)

        @OptionGroup var input: TraceSetInputOptions
        @OptionGroup var output: OutputOptions

        @Option(name: .long, help: ArgumentHelp("Provider: tcp, verbs, null or a path to a .so (default $SAN_PROVIDER or tcp).", valueName: "NAME|PATH"))
        var backend: String?

        @Option(name: .long, help: ArgumentHelp("asap, recorded or xFACTOR.", valueName: "PACE"))
        var pace: String = "asap"

        @Option(name: .long, help: ArgumentHelp("strict (stop at the first divergence) or report (continue and count).", valueName: "POLICY"))
        var divergence: String = "strict"

        @Option(name: .long, help: ArgumentHelp("Longest wait for a completion, connection, descriptor or event.", valueName: "SECONDS"))
        var timeout: Double = 30

        @Option(name: .long, help: ArgumentHelp("Record the replay itself into this folder (with libsantrace.so).", valueName: "OUTDIR"))
        var record: String?

        @Option(name: .long, help: ArgumentHelp("Replay only this endpoint (trace name, unique prefix or position).", valueName: "NAME"))
        var endpoint: String?

        @Option(name: .long, help: ArgumentHelp("The coordinator the endpoints meet at.", valueName: "HOST:PORT"))
        var coordinator: String?

        @Option(name: .customLong("serve-coordinator"), help: ArgumentHelp("Serve the coordinator here (with --endpoint: also replay it).", valueName: "HOST:PORT"))
        var serveCoordinator: String?

        @Flag(name: .long, help: "Progress lines on stderr.")
        var verbose = false

        @Option(name: .customLong("report-json"), help: ArgumentHelp("Also write the JSON report to this file.", valueName: "PATH", visibility: .hidden))
        var reportJSON: String?

        func validate() throws {
            guard ReplayPace(self.pace) != nil else {
                throw ValidationError("--pace must be asap, recorded or xFACTOR (a positive number, like x2 or x0.5), not '\(self.pace)'")
            }
            guard DivergencePolicy(rawValue: self.divergence) != nil else {
                throw ValidationError("--divergence must be strict or report, not '\(self.divergence)'")
            }
            guard self.timeout > 0, self.timeout <= 86400 else { throw ValidationError("--timeout must be between 0 and 86400 seconds") }
            if self.endpoint != nil && self.coordinator == nil && self.serveCoordinator == nil {
                throw ValidationError("--endpoint needs --coordinator HOST:PORT (or --serve-coordinator HOST:PORT)")
            }
            if self.coordinator != nil && self.endpoint == nil {
                throw ValidationError("--coordinator needs --endpoint NAME (the endpoint this process replays)")
            }
        }

        func run() throws {
            var o = ReplayOptions(trace: self.input.trace)
            o.backend = self.backend
            o.pace = ReplayPace(self.pace)!
            o.divergence = DivergencePolicy(rawValue: self.divergence)!
            o.timeoutSeconds = self.timeout
            o.recordDirectory = self.record
            o.verbose = self.verbose
            o.executable = Replayer.currentExecutable
            if let e = self.endpoint {
                let address = self.coordinator ?? self.serveCoordinator!
                o.placement = .endpoint(name: e, coordinator: address, serve: self.serveCoordinator != nil)
            } else if let s = self.serveCoordinator {
                o.placement = .coordinatorOnly(address: s)
            }
            let verbose = self.verbose || self.serveCoordinator != nil
            let report: ReplayReport
            do {
                report = try Replayer.run(o) { line in if verbose { printError(line) } }
            } catch let e as ReplayError {
                printError("sanreplay replay: \(e)")
                switch e {
                case .usage, .backend, .unsupported: throw ExitCode(SanReplayExit.usage.rawValue)
                case .coordinator: throw ExitCode(SanReplayExit.differences.rawValue)
                }
            }
            let out = Output()
            if self.output.json {
                out.line(report.json)
            } else {
                for l in report.text { out.line(l) }
            }
            out.flush()
            if let path = self.reportJSON, let f = fopen(path, "w") {
                fputs(report.json + "\n", f)
                fclose(f)
            }
            if !report.ok { throw ExitCode(SanReplayExit.differences.rawValue) }
        }
    }
}
