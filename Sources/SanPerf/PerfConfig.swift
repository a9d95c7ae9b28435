import SanSwitch

/// How a completion is reported to sanperf (reference §3.4).
public enum PerfCompletion: String, CaseIterable, Sendable {
    /// hEvent low bit set; sanperf polls WSPGetOverlappedResult.
    case poll
    /// hEvent is a WSAEVENT; the provider calls WPUCompleteOverlappedRequest, sanperf waits on
    /// the event and collects the finished operations from it.
    case upcall
}

/// How sanperf waits in poll mode (upcall mode always waits on the event).
public enum PerfWait: String, CaseIterable, Sendable {
    case spin, yield, block, backoff

    var strategy: SanWaitStrategy {
        switch self {
        case .spin: return .spin
        case .yield: return .yield
        case .block: return .block
        case .backoff: return .backoff
        }
    }
}

/// Where the two ends run.
public enum PerfPlacement: Sendable, Equatable {
    /// Both ends in this process, on two threads, over 127.0.0.1.
    case loopback
    /// This process is the passive end, listening on `port` (0: any).
    case server(port: UInt16)
    /// This process is the active end, connecting to a `--server`.
    case client(SanAddress)
}

/// One sanperf run's parameters. The active end (client) decides them; the passive end adopts
/// what the client's setup message says.
public struct PerfConfig: Sendable {
    public var test: PerfTest
    public var size: Int
    public var iterations: Int
    public var txDepth: Int
    public var provider: String?
    public var placement: PerfPlacement
    public var completion: PerfCompletion
    public var wait: PerfWait
    public var rawTCP: Bool
    /// How long any single wait may take before the run fails.
    public var timeoutSeconds: Int

    public init(test: PerfTest, size: Int? = nil, iterations: Int? = nil, txDepth: Int = 128,
                provider: String? = nil, placement: PerfPlacement = .loopback, completion: PerfCompletion = .poll,
                wait: PerfWait = .yield, rawTCP: Bool = false, timeoutSeconds: Int = 30) {
        self.test = test
        self.size = size ?? test.defaultSize
        self.iterations = iterations ?? test.defaultIterations
        self.txDepth = txDepth
        self.provider = provider
        self.placement = placement
        self.completion = completion
        self.wait = wait
        self.rawTCP = rawTCP
        self.timeoutSeconds = timeoutSeconds
    }

    /// Largest message or RDMA size sanperf accepts (the SPI's lengths are 32-bit).
    public static let maxSize = 1 << 30

    /// Checks the parameters that need no provider; throws a message for the user.
    public func validate() throws(PerfError) {
        guard self.size >= 1 else { throw .badInput("--size must be at least 1 (got \(self.size))") }
        guard self.size <= Self.maxSize else { throw .badInput("--size must be at most \(Self.maxSize) (got \(self.size))") }
        guard self.iterations >= 1 else { throw .badInput("--iters must be at least 1 (got \(self.iterations))") }
        guard self.iterations <= UInt32.max else { throw .badInput("--iters must be at most \(UInt32.max)") }
        guard (1...4096).contains(self.txDepth) else { throw .badInput("--tx-depth must be 1...4096 (got \(self.txDepth))") }
        guard self.timeoutSeconds >= 1 else { throw .badInput("--timeout must be at least 1 second") }
        if self.rawTCP && self.test == .registrationChurn {
            throw .badInput("--raw-tcp has no baseline for reg_churn (registration has no TCP equivalent)")
        }
        if self.test == .registrationChurn && self.size > Int(UInt32.max) {
            throw .badInput("--size too large for a registration")
        }
    }

    var timeoutNanoseconds: UInt64 { UInt64(self.timeoutSeconds) * 1_000_000_000 }

    /// Untimed iterations before the measured ones in latency tests (both ends run them).
    var warmup: Int { self.test.isLatency ? min(100, self.iterations) : 0 }
}

/// Why a run failed, worded for the user.
public enum PerfError: Error, CustomStringConvertible, Sendable {
    /// The command line asks for something impossible.
    case badInput(String)
    /// The provider could not be loaded or started.
    case provider(String)
    /// The run started but failed.
    case failed(String)

    public var description: String {
        switch self {
        case .badInput(let s), .provider(let s), .failed(let s): return s
        }
    }
}

extension PerfError {
    /// Wraps a switch error with what sanperf was doing.
    static func during(_ what: String, _ error: SanSwitchError) -> PerfError { .failed("\(what): \(error)") }
}
