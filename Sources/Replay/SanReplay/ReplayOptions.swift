import SanTraceFormat

/// How fast the replay issues calls.
public enum ReplayPace: Equatable, Sendable, CustomStringConvertible {
    /// As fast as possible: only the recorded order and completions constrain it.
    case asap
    /// The recorded gaps between consecutive calls of each thread.
    case recorded
    /// The recorded gaps multiplied by a factor (`x2` is twice as slow, `x0.5` twice as fast).
    case scaled(Double)

    /// Parses `asap`, `recorded` or `xFACTOR`.
    public init?(_ text: String) {
        switch text {
        case "asap": self = .asap
        case "recorded": self = .recorded
        default:
            guard text.hasPrefix("x"), let f = Double(text.dropFirst()), f.isFinite, f > 0, f <= 1e6 else { return nil }
            self = .scaled(f)
        }
    }

    /// The factor applied to recorded gaps (nil: no pacing).
    var factor: Double? {
        switch self {
        case .asap: return nil
        case .recorded: return 1
        case .scaled(let f): return f
        }
    }

    public var description: String {
        switch self {
        case .asap: return "asap"
        case .recorded: return "recorded"
        case .scaled(let f): return f == f.rounded() && abs(f) < 1e15 ? "x\(Int64(f))" : "x\(f)"
        }
    }
}

/// What the replay does at a divergence.
public enum DivergencePolicy: String, Sendable, CaseIterable {
    /// Stop at the first divergence (the default).
    case strict
    /// Continue, count every divergence, report the first.
    case report
}

/// Where the endpoints of a replay run.
public enum ReplayPlacement: Equatable, Sendable {
    /// Every recorded process as threads of this process.
    case inProcess
    /// One endpoint here; the others in other replay processes, meeting at a coordinator
    /// (`HOST:PORT`), which this process also serves when `serve` is set.
    case endpoint(name: String, coordinator: String, serve: Bool)
    /// Only serve the coordinator for `expect` endpoints, then report their outcome.
    case coordinatorOnly(address: String)
}

/// Everything a replay run is told.
public struct ReplayOptions: Sendable {
    /// A trace or a folder of traces (a trace set).
    public var trace: String
    /// Provider short name or path; nil = `SAN_PROVIDER` or `tcp`.
    public var backend: String?
    public var pace: ReplayPace = .asap
    public var divergence: DivergencePolicy = .strict
    /// Longest wait for one completion, connection, descriptor or event.
    public var timeoutSeconds: Double = 30
    public var placement: ReplayPlacement = .inProcess
    /// Record the replay itself into this folder (the interposer is loaded before the backend).
    public var recordDirectory: String?
    /// Log progress on stderr.
    public var verbose = false
    /// The sanreplay executable: with it, a recorded replay of several endpoints runs one child
    /// process per endpoint (one trace each, like the original); without it, one process.
    public var executable: String?

    public init(trace: String) { self.trace = trace }

    var timeoutNanoseconds: UInt64 { UInt64(max(0.001, min(self.timeoutSeconds, 1e6)) * 1e9) }
}

/// Why a replay could not run (as opposed to: it ran and diverged).
public enum ReplayError: Error, CustomStringConvertible, Sendable {
    /// The backend could not be loaded or started.
    case backend(String)
    /// The trace set cannot be replayed as asked (unknown endpoint, too large a buffer …).
    case unsupported(String)
    /// Coordinator trouble (cannot connect or serve, protocol error, another endpoint failed).
    case coordinator(String)
    /// Bad options.
    case usage(String)

    public var description: String {
        switch self {
        case .backend(let s): return "backend: \(s)"
        case .unsupported(let s): return s
        case .coordinator(let s): return "coordinator: \(s)"
        case .usage(let s): return s
        }
    }
}
