import SanTraceFormat

/// A controlled difference between two synthetic runs of the same workload, for testing `diff`:
/// another timing (what two runs of one deterministic program differ by), slower calls of chosen
/// functions (an injected regression, like a backend that sleeps in RDMA writes), or one call
/// that fails (an injected semantic change).
///
/// The default value changes nothing: the generator then produces exactly the stream it always
/// has for a seed (the golden files depend on it).
public struct SyntheticVariation: Sendable {
    /// Seed of the timing draws (delays, which polls find an operation still running). Set, the
    /// structure (sizes, addresses, the sequence of calls apart from polls that find nothing)
    /// depends on the workload seed alone, so two timing seeds give two "runs" of one program.
    public var timingSeed: UInt64?
    /// Per function, a factor on the duration of its calls and on the time its operations take
    /// to complete.
    public var slowdown: [FunctionID: Double] = [:]
    /// The index (0-based, counting every RDMA write of the trace) of an RDMA write that fails
    /// with WSAECONNRESET instead of going pending.
    public var failRdmaWriteAt: UInt64?

    public init(timingSeed: UInt64? = nil, slowdown: [FunctionID: Double] = [:], failRdmaWriteAt: UInt64? = nil) {
        self.timingSeed = timingSeed
        self.slowdown = slowdown
        self.failRdmaWriteAt = failRdmaWriteAt
    }
}
