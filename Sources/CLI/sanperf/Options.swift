import ArgumentParser
import SanPerf

extension PerfTest: ExpressibleByArgument {}
extension PerfCompletion: ExpressibleByArgument {}
extension PerfWait: ExpressibleByArgument {}

/// What to run and how.
struct WorkloadOptions: ParsableArguments {
    @Option(help: "Message or RDMA size in bytes (default: 65536 for *_bw and reg_churn, 8 for *_lat).")
    var size: Int?

    @Option(name: .customLong("iters"), help: "Measured iterations (default: 5000 for *_bw, 1000 for *_lat, 10000 for reg_churn).")
    var iterations: Int?

    @Option(name: .customLong("tx-depth"), help: "Operations in flight in *_bw tests (perftest's default).")
    var txDepth: Int = 128

    @Option(help: ArgumentHelp("Provider short name (libsan_NAME.so) or path; default $SAN_PROVIDER or tcp.",
                               valueName: "NAME|PATH"))
    var provider: String?

    @Option(help: "How operations report completion: poll (WSPGetOverlappedResult) or upcall (WPUCompleteOverlappedRequest).")
    var completion: PerfCompletion = .poll

    @Option(help: "How poll mode waits: spin, yield, block (fWait TRUE) or backoff. Upcall mode waits on its event.")
    var wait: PerfWait = .yield

    @Option(help: "Seconds any single wait (connection, completion, message) may take before the run fails.")
    var timeout: Int = 60
}

/// Where the two ends run: exactly one of --loopback, --server, --connect.
struct PlacementOptions: ParsableArguments {
    @Flag(help: "Run both ends in this process, on two threads, over 127.0.0.1.")
    var loopback = false

    @Flag(help: "Be the passive end: accept one client, serve its run, exit.")
    var server = false

    @Option(help: "The --server's port (default 18515, perftest's).")
    var port: UInt16?

    @Option(help: ArgumentHelp("Be the active end, connecting to a --server.", valueName: "HOST:PORT"))
    var connect: String?
}

/// Output and comparison.
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print one JSON object instead of the table.")
    var json = false

    @Flag(name: .customLong("raw-tcp"), help: "Also measure the same pattern over a plain TCP connection, and print the ratio.")
    var rawTCP = false
}
