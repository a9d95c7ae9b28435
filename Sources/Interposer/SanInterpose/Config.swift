import CSanTrace
import Glibc

/// What a recording does, from the environment of the traced process (README, "Recording").
public struct TraceConfig: Sendable, Equatable {
    public enum Payload: String, Sendable, CaseIterable {
        case none, hash, full
        var cValue: Int32 {
            switch self {
            case .none: return CSAN_PAYLOAD_NONE
            case .hash: return CSAN_PAYLOAD_HASH
            case .full: return CSAN_PAYLOAD_FULL
            }
        }
    }

    /// SANTRACE_DIR: the trace set folder (default `./santrace`).
    public var directory = "./santrace"
    /// SANTRACE_PAYLOAD: none | hash | full (default none).
    public var payload = Payload.none
    /// SANTRACE_FLUSH_MS: the longest time events wait in memory before a flush (default 100).
    public var flushMilliseconds = 100
    /// SANTRACE_LOSSY: 1 drops (and counts) records when a ring is full instead of waiting.
    public var lossy = false
    /// SANTRACE_PROVIDER: the real provider in layered mode (a path or tcp/null/verbs); nil = preload.
    public var provider: String?
    /// SANTRACE_RING_KB: the size of each thread's ring (default 1024, rounded up to a power of two).
    public var ringKilobytes = 1024
    /// SANTRACE_RUN_ID: a label stored in every trace of the run (`sanreplay record` sets it to
    /// find the traces its command wrote).
    public var runID: String?

    public init() {}

    /// Why a configuration was refused: the variable and what was wrong with it.
    public struct Invalid: Error, CustomStringConvertible, Equatable {
        public let variable: String
        public let value: String
        public let expected: String
        public var description: String { "\(self.variable)=\(self.value): expected \(self.expected)" }
    }

    /// Reads the SANTRACE_* variables through `lookup` (getenv by default).
    public static func fromEnvironment(_ lookup: (String) -> String? = TraceConfig.getenvString) throws(Invalid)
        -> TraceConfig
    {
        var c = TraceConfig()
        if let d = lookup("SANTRACE_DIR"), !d.isEmpty { c.directory = d }
        if let p = lookup("SANTRACE_PAYLOAD"), !p.isEmpty {
            guard let v = Payload(rawValue: p) else {
                throw Invalid(variable: "SANTRACE_PAYLOAD", value: p, expected: "none, hash or full")
            }
            c.payload = v
        }
        if let f = lookup("SANTRACE_FLUSH_MS"), !f.isEmpty {
            guard let v = Int(f), v >= 1, v <= 3_600_000 else {
                throw Invalid(variable: "SANTRACE_FLUSH_MS", value: f, expected: "milliseconds from 1 to 3600000")
            }
            c.flushMilliseconds = v
        }
        if let l = lookup("SANTRACE_LOSSY"), !l.isEmpty {
            guard l == "0" || l == "1" else { throw Invalid(variable: "SANTRACE_LOSSY", value: l, expected: "0 or 1") }
            c.lossy = l == "1"
        }
        if let p = lookup("SANTRACE_PROVIDER"), !p.isEmpty { c.provider = p }
        if let r = lookup("SANTRACE_RUN_ID"), !r.isEmpty { c.runID = r }
        if let r = lookup("SANTRACE_RING_KB"), !r.isEmpty {
            guard let v = Int(r), v >= 64, v <= 1 << 20 else {
                throw Invalid(variable: "SANTRACE_RING_KB", value: r, expected: "kilobytes from 64 to 1048576")
            }
            c.ringKilobytes = v
        }
        return c
    }

    public static func getenvString(_ name: String) -> String? {
        guard let v = getenv(name) else { return nil }
        return String(cString: v)
    }
}
