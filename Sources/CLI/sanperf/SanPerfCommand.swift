import ArgumentParser
import SanPerf

/// `sanperf`: perftest-like workloads over the SAN SPI.
@main
struct SanPerfCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sanperf",
        abstract: "Measure a SAN provider through the SPI: RDMA write/read bandwidth and latency, send latency, registration churn.",
        discussion: """
            Both ends exchange what they need (RDMA descriptors, sizes, iteration counts)
            over the SAN connection itself with WSPSend/WSPRecv, so a trace of either end
            shows the whole application. The client decides the parameters; a --server
            adopts them.

            Examples:
              sanperf write_bw --loopback --provider tcp --size 1048576 --raw-tcp
              sanperf send_lat --loopback --provider tcp --json
              sanperf read_lat --server --port 18515 --provider tcp     (on host A)
              sanperf read_lat --connect hostA:18515 --provider tcp     (on host B)

            Exit codes: 0 success; 1 the run failed; 64 bad command line; 69 the provider
            cannot be loaded or started.
            """)

    @Argument(help: ArgumentHelp("The workload.", valueName: "TEST"))
    var test: PerfTest

    @OptionGroup(title: "Workload") var workload: WorkloadOptions
    @OptionGroup(title: "Where the two ends run") var placement: PlacementOptions
    @OptionGroup(title: "Output") var output: OutputOptions

    func validate() throws { _ = try self.makeConfig() }

    func run() throws {
        let config = try self.makeConfig()
        do {
            let report = try PerfRunner.run(config, note: printToStderr)
            printReport(report, json: self.output.json)
        } catch {
            printToStderr("sanperf: \(error)")
            throw ExitCode(sanperfExitCode(for: error))
        }
    }
}
