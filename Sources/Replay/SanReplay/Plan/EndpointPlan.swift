import SanTraceFormat

/// Everything one endpoint needs to replay, precompiled from its trace (and its peers'): live
/// object slot counts, memory blocks and buffer entries, operations, data checks, and the steps
/// of each thread. Built once by ``EndpointPlanner``; read-only while replaying.
final class EndpointPlan {
    let endpoint: Int
    let name: String
    /// The trace this plan replays.
    let trace: EndpointTrace

    var socketCount = 0
    var handleCount = 0
    /// Slots no replayed call creates (an object made before recording began, or a damaged
    /// trace): used as INVALID_SOCKET / a NULL handle / an empty descriptor at once, instead of
    /// waiting for a creation that never comes.
    var orphanSockets: [Int32] = []
    var orphanHandles: [Int32] = []
    var orphanDescriptors: [Int32] = []
    var descriptors: [DescriptorSlot] = []
    var overlappedCount = 0
    var eventCount = 0
    var blocks: [BlockPlan] = []
    var arena: [ArenaEntry] = []
    var ops: [OpPlan] = []
    var checks: [DataCheck] = []
    var waitList: [Int32] = []
    /// Argument bytes (remapped addresses, option values, ioctl input).
    var blobs: [[UInt8]] = []
    /// Coordinator keys steps publish or wait for.
    var keys: [String] = []
    var connectTargets: [ConnectTarget] = []
    /// Recorded payload bytes of sends and writes (`full` traces).
    var recorded: [[UInt8]] = []
    var threads: [ThreadPlan] = []
    /// Recorded wall-clock start of each thread's first call (pacing across threads).
    var threadStartRealtime: [Int64] = []
    var origins: [StepOrigin] = []
    /// Recorded calls not replayed one for one, by function: timing (incomplete polls, accepts
    /// that would block, empty event enumerations), startup (the backend is started and its
    /// extensions looked up when it is loaded) or unsupported (arguments not recorded).
    var timingSkipped: [FunctionID: Int] = [:]
    var startupSkipped: [FunctionID: Int] = [:]
    var unsupported: [FunctionID: Int] = [:]
    /// Recorded descriptor → its region (block, offset, length), for descriptors registered here.
    var regions: [UInt64: (block: Int32, offset: UInt64, length: UInt64)] = [:]
    var notes: [String] = []
    /// Data the replay cannot check, by reason (counted, reported).
    var uncheckable: [String: Int] = [:]

    init(endpoint: Int, name: String, trace: EndpointTrace) {
        self.endpoint = endpoint
        self.name = name
        self.trace = trace
    }

    var stepCount: Int { self.threads.reduce(0) { $0 + $1.steps.count } }

    func key(_ s: String) -> Int32 {
        if let i = self.keys.firstIndex(of: s) { return Int32(i) }
        self.keys.append(s)
        return Int32(self.keys.count - 1)
    }

    func addBlob(_ b: [UInt8]) -> Int32 {
        self.blobs.append(b)
        return Int32(self.blobs.count - 1)
    }
}

/// Deterministic seeds of the payload stream: every endpoint (and host) computes the same bytes
/// for the same (endpoint, sequence) or (endpoint, block).
enum Seeds {
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The bytes an operation sends (endpoint, global sequence of its ENTER).
    static func operation(_ endpoint: Int, _ seq: UInt64) -> UInt64 { mix(UInt64(endpoint) << 56 ^ 1 << 52 ^ seq) }
    /// The initial content of a memory block.
    static func block(_ endpoint: Int, _ block: Int) -> UInt64 { mix(UInt64(endpoint) << 56 ^ 2 << 52 ^ UInt64(block)) }
    /// The k-th message of a synthetic peer, and its regions.
    static func synthetic(_ peer: Int, _ k: Int) -> UInt64 { mix(UInt64(peer) << 56 ^ 3 << 52 ^ UInt64(k)) }
    static func syntheticRegion(_ peer: Int, _ region: Int) -> UInt64 { mix(UInt64(peer) << 56 ^ 4 << 52 ^ UInt64(region)) }
}
