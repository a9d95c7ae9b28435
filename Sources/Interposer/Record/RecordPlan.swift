#if canImport(Glibc)
import Glibc
#endif

/// What `sanreplay record` runs: the command, where its traces go, and the environment that
/// makes it record. Built once, then launched (``Recording/run(_:)``).
public struct RecordPlan: Sendable {
    /// How the interposer gets into the command.
    public enum Attach: String, Sendable {
        /// `SAN_LAYER=libsantrace.so`: a program using the switch (SanSwitch, sanperf) loads the
        /// interposer in place of its provider and tells it which one it wanted.
        case layer
        /// `LD_PRELOAD=libsantrace.so`: a program linked directly with a provider library.
        case preload
    }

    public var command: [String]
    /// The trace set folder (absolute).
    public var directory: String
    public var payload: String
    public var attach: Attach
    public var interposer: String
    /// The provider the interposer wraps (absolute path), when chosen here; otherwise the one the
    /// command asks the switch for (layer) or links with (preload).
    public var provider: String?
    /// A label stored in every trace this run writes (meta `option.run_id`), so the summary
    /// finds exactly this run's traces even in a shared folder.
    public var runID: String

    /// The payload policies (SANTRACE_PAYLOAD).
    public static let payloads = ["none", "hash", "full"]

    public init(command: [String], directory: String, payload: String = "none", attach: Attach = .layer,
                interposer: String, provider: String? = nil, runID: String = RecordPlan.newRunID()) throws(RecordError) {
        guard let first = command.first, !first.isEmpty else { throw .usage("no command to record (sanreplay record -- CMD [ARGS…])") }
        guard Self.payloads.contains(payload) else { throw .usage("--payload \(payload): expected none, hash or full") }
        self.command = command
        self.directory = Self.absolute(directory)
        self.payload = payload
        self.attach = attach
        self.interposer = interposer
        self.provider = provider
        self.runID = runID
    }

    /// The command's environment: `base` (the caller's, as KEY=VALUE) with the recording's
    /// variables set. Other SANTRACE_* variables the caller set (SANTRACE_FLUSH_MS,
    /// SANTRACE_LOSSY, SANTRACE_RING_KB …) pass through unchanged.
    public func environment(_ base: [String]) -> [String] {
        var env: [(String, String)] = base.compactMap { kv in
            guard let eq = kv.firstIndex(of: "=") else { return nil }
            return (String(kv[..<eq]), String(kv[kv.index(after: eq)...]))
        }
        func set(_ k: String, _ v: String) {
            env.removeAll { $0.0 == k }
            env.append((k, v))
        }
        func get(_ k: String) -> String? { env.last { $0.0 == k }?.1 }
        set("SANTRACE_DIR", self.directory)
        set("SANTRACE_PAYLOAD", self.payload)
        set("SANTRACE_RUN_ID", self.runID)
        if let p = self.provider { set("SANTRACE_PROVIDER", p) }
        // Short provider names the command passes to the switch resolve here too.
        let libDir = String(self.interposer[..<(self.interposer.lastIndex(of: "/") ?? self.interposer.startIndex)])
        if !libDir.isEmpty {
            set("SAN_PROVIDER_PATH", (get("SAN_PROVIDER_PATH").map { $0 + ":" } ?? "") + libDir)
        }
        switch self.attach {
        case .layer:
            set("SAN_LAYER", self.interposer)
        case .preload:
            set("LD_PRELOAD", self.interposer + (get("LD_PRELOAD").map { " " + $0 } ?? ""))
        }
        return env.map { "\($0.0)=\($0.1)" }
    }

    /// A fresh folder name for a run: `santrace-YYYYMMDD-HHMMSS` in the current directory.
    public static func defaultDirectory() -> String {
        var t = time(nil)
        var parts = tm()
        localtime_r(&t, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "santrace-\(parts.tm_year + 1900)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))-"
            + "\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec))"
    }

    /// A random 64-bit label in hex.
    public static func newRunID() -> String {
        var g = SystemRandomNumberGenerator()
        return String(g.next() as UInt64, radix: 16)
    }

    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buf, buf.count) != nil else { return path }
        let cwd = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return cwd + "/" + path
    }
}
