/// What one end measured.
public struct PerfMeasurement: Sendable {
    /// Payload bytes moved in the measured phase.
    public var bytes: UInt64
    /// Measured operations (messages, RDMA operations, round trips).
    public var operations: UInt64
    public var seconds: Double
    public var latency: LatencySummary?

    public init(bytes: UInt64, operations: UInt64, seconds: Double, latency: LatencySummary?) {
        self.bytes = bytes
        self.operations = operations
        self.seconds = seconds
        self.latency = latency
    }

    /// MiB/s (2^20 bytes per second).
    public var mebibytesPerSecond: Double { self.seconds > 0 ? Double(self.bytes) / 1_048_576 / self.seconds : 0 }
    /// Gb/s (10^9 bits per second), as perftest prints it.
    public var gigabitsPerSecond: Double { self.seconds > 0 ? Double(self.bytes) * 8 / 1e9 / self.seconds : 0 }
    /// Operations per second.
    public var messageRate: Double { self.seconds > 0 ? Double(self.operations) / self.seconds : 0 }
}

/// One kind of registration call measured by reg_churn.
public struct ChurnMeasurement: Sendable {
    /// `register_memory`, `deregister_memory`, `rdma_size_probe`, `register_rdma_memory`,
    /// `deregister_rdma_memory`, `cache_callback`.
    public var kind: String
    public var count: UInt64
    public var seconds: Double
    public var latency: LatencySummary?
    public var opsPerSecond: Double { self.seconds > 0 ? Double(self.count) / self.seconds : 0 }
}

/// Which end a result describes.
public enum PerfSide: String, Sendable {
    case client, server
}

/// The result of one run, as printed.
public struct PerfReport: Sendable {
    public var test: PerfTest
    public var provider: String
    public var providerPath: String
    public var side: PerfSide
    /// `loopback`, `server` or `client`.
    public var placement: String
    public var size: Int
    public var iterations: Int
    public var txDepth: Int
    public var completion: PerfCompletion
    public var wait: PerfWait
    public var measurement: PerfMeasurement
    /// reg_churn only: each call kind.
    public var churn: [ChurnMeasurement] = []
    /// The raw-TCP baseline of the same pattern, when asked for.
    public var rawTCP: PerfMeasurement?
    /// False when the provider delivered no data in the setup exchange (the null provider) and
    /// the loopback run used the in-process copy of the setup messages.
    public var dataMoved: Bool = true
}

extension PerfReport {
    /// provider ÷ raw TCP bandwidth (higher is better for the provider).
    public var bandwidthRatio: Double? {
        guard let raw = self.rawTCP, raw.mebibytesPerSecond > 0 else { return nil }
        return self.measurement.mebibytesPerSecond / raw.mebibytesPerSecond
    }

    /// provider ÷ raw TCP latency at the median and on average (lower is better for the provider).
    public var latencyRatios: (p50: Double, average: Double)? {
        guard let a = self.measurement.latency, let b = self.rawTCP?.latency, b.p50 > 0, b.average > 0 else { return nil }
        return (a.p50 / b.p50, a.average / b.average)
    }
}
