import ArgumentParser
import SanRecord

extension SanReplay {
    struct Record: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a command with the interposer attached and record its SAN calls into a trace set.",
            discussion: """
                Finds libsantrace.so next to this executable or in ../lib (no configuration),
                runs CMD with it attached, forwards SIGINT and SIGTERM to it, waits for it and
                exits with its status (128 + N when signal N ended it). Every process of CMD
                that starts a provider writes one .santrace into DIR; a one-paragraph summary
                follows on stderr.

                Attaching: by default through the switch's layered-provider variable, SAN_LAYER
                (programs using SanSwitch, such as sanperf, load libsantrace.so in place of the
                provider they ask for, and it wraps that one). --preload sets LD_PRELOAD
                instead, for programs linked directly with a provider library. --provider makes
                the interposer wrap that provider whatever the program asks for.

                ENVIRONMENT (read by libsantrace.so in the recorded process; record sets the
                first three and passes the others through)
                  SANTRACE_DIR        the trace set folder (-o)
                  SANTRACE_PAYLOAD    none | hash (XXH64 per buffer) | full (the bytes)
                                      (--payload)
                  SANTRACE_PROVIDER   the provider to wrap, a path or tcp/null/verbs
                                      (--provider)
                  SANTRACE_FLUSH_MS   longest wait before events are committed (default 100)
                  SANTRACE_LOSSY      1: a full per-thread ring drops events (counted)
                                      instead of making the thread wait (counted as a
                                      stall) (default 0)
                  SANTRACE_RING_KB    per-thread ring size, 64 … 1048576 (default 1024)
                  SANTRACE_SUMMARY    1: each process prints one line at exit (events, stalls,
                                      drops, drain events/s)
                  SANTRACE_DRAIN_NICE nice levels of the drain thread below the program, 0 … 19
                                      (default 10)
                  SANTRACE_RUN_ID     set by record: a label in every trace of the run
                  SAN_LAYER, LD_PRELOAD, SAN_PROVIDER_PATH
                                      set by record to attach and to find providers
                                      next to libsantrace.so

                EXIT STATUS: CMD's; 64 bad options; 69 libsantrace.so, a provider or CMD not
                found.

                EXAMPLES
                  sanreplay record -o run -- sanperf write_bw --loopback --iters 2000
                  sanreplay record -o run -- sanperf send_lat --server &
                  sanreplay record -o run -- sanperf send_lat --connect 127.0.0.1:18515
                  sanreplay record --preload --payload hash -o run -- ./linked_with_libsan_tcp
                  sanreplay stats run/ && sanreplay verify run/*.santrace
                """)

        @Option(name: .shortAndLong, help: ArgumentHelp("The trace set folder (created; default santrace-YYYYMMDD-HHMMSS).",
                                                        valueName: "DIR"))
        var output: String?

        @Option(help: ArgumentHelp("What to keep of data buffers: none, hash or full.", valueName: "POLICY"))
        var payload = "none"

        @Option(help: ArgumentHelp("The provider the interposer wraps (path, or a short name like tcp).",
                                   valueName: "NAME|PATH"))
        var provider: String?

        @Flag(help: "Attach with LD_PRELOAD (a program linked with a provider) instead of SAN_LAYER.")
        var preload = false

        @Argument(parsing: .postTerminator, help: ArgumentHelp("The command to record, after --.", valueName: "CMD"))
        var command: [String] = []

        func validate() throws {
            guard !self.command.isEmpty else { throw ValidationError("no command to record: sanreplay record [OPTIONS] -- CMD [ARGS…]") }
            guard RecordPlan.payloads.contains(self.payload) else {
                throw ValidationError("--payload \(self.payload): expected none, hash or full")
            }
        }

        func run() throws {
            let result: Recording.Result
            do throws(RecordError) {
                let plan = try RecordPlan(command: self.command, directory: self.output ?? RecordPlan.defaultDirectory(),
                                          payload: self.payload, attach: self.preload ? .preload : .layer,
                                          interposer: try RecordProducts.interposer(),
                                          provider: try self.provider.map { p throws(RecordError) in try RecordProducts.provider(p) })
                result = try Recording.run(plan) { printError($0) }
            } catch {
                printError("sanreplay record: \(error)")
                switch error {
                case .usage: throw ExitCode(SanReplayExit.usage.rawValue)
                case .notFound, .launch: throw ExitCode(69)
                }
            }
            printError("sanreplay record: " + result.summary.paragraph)
            for u in result.summary.unreadable { printError("sanreplay record: \(u.path): \(u.reason)") }
            if result.status != 0 { throw ExitCode(result.status) }
        }
    }
}
