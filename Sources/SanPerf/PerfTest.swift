/// The workloads sanperf runs, named like perftest's (`ib_write_bw` → `write_bw`).
public enum PerfTest: String, CaseIterable, Sendable {
    case writeBandwidth = "write_bw"
    case readBandwidth = "read_bw"
    case writeLatency = "write_lat"
    case readLatency = "read_lat"
    case sendBandwidth = "send_bw"
    case sendLatency = "send_lat"
    case registrationChurn = "reg_churn"

    /// Many operations in flight, throughput measured.
    public var isBandwidth: Bool { self == .writeBandwidth || self == .readBandwidth || self == .sendBandwidth }

    /// One operation (or round trip) at a time, each timed.
    public var isLatency: Bool { self == .writeLatency || self == .readLatency || self == .sendLatency }

    /// The test uses WSPRdmaWrite / WSPRdmaRead against a region the peer registered.
    public var usesRdma: Bool { self == .writeBandwidth || self == .readBandwidth || self == .writeLatency || self == .readLatency }

    /// The wire code in the setup message.
    var code: UInt8 { UInt8(Self.allCases.firstIndex(of: self)! + 1) }

    init?(code: UInt8) {
        guard code >= 1, Int(code) <= Self.allCases.count else { return nil }
        self = Self.allCases[Int(code) - 1]
    }

    /// perftest's defaults: 5000 iterations for bandwidth, 1000 for latency; 64 KiB for
    /// bandwidth, 8 bytes for latency (perftest uses 65536 and 2).
    public var defaultIterations: Int {
        switch self {
        case .writeBandwidth, .readBandwidth, .sendBandwidth: return 5000
        case .writeLatency, .readLatency, .sendLatency: return 1000
        case .registrationChurn: return 10_000
        }
    }

    public var defaultSize: Int {
        switch self {
        case .writeBandwidth, .readBandwidth, .sendBandwidth: return 65536
        case .writeLatency, .readLatency, .sendLatency: return 8
        case .registrationChurn: return 65536
        }
    }

    /// What the latency figures of this test measure.
    public var latencyMeaning: String {
        switch self {
        case .writeLatency, .sendLatency: return "half a round trip (perftest's t_typical)"
        case .readLatency: return "one RDMA read, post to completion"
        case .writeBandwidth, .readBandwidth, .sendBandwidth: return "per operation, post to completion (queueing included)"
        case .registrationChurn: return "per register + deregister pair"
        }
    }
}
