import SanTraceFormat

/// The outcome of a replay: what was replayed, what diverged, what was checked, how fast.
public struct ReplayReport: Sendable {
    public struct FunctionLine: Sendable {
        public var function: String
        public var calls: UInt64
        /// Live call latency (ns).
        public var p50: UInt64
        public var p99: UInt64
        public var p999: UInt64
        public var max: UInt64
        /// Calls per second over this function's own span (first call to last).
        public var rate: Double
    }

    public struct Pacing: Sendable {
        public var mode: String
        /// Paced calls and the achieved error |replayed gap − target gap| (ns).
        public var calls: UInt64
        public var p50: UInt64
        public var p99: UInt64
        public var max: UInt64
    }

    /// One endpoint replayed by a child process (a recorded replay of several endpoints).
    public struct Child: Sendable {
        public var endpoint: String
        public var process: Int
        public var exitCode: Int
        /// Its text report, and its JSON report.
        public var text: String
        public var json: String
    }

    public var trace: String
    /// Endpoints replayed here (trace names), and synthesized peers.
    public var endpoints: [String]
    public var synthetic: [String]
    public var backend: String
    public var pace: String
    public var policy: String
    public var functions: [FunctionLine] = []
    public var callsReplayed: UInt64 = 0
    public var callsCompared: UInt64 = 0
    public var completionsCompared: UInt64 = 0
    /// Recorded calls not replayed one for one.
    public var timingSkipped: [String: Int] = [:]
    public var startupSkipped: [String: Int] = [:]
    public var unsupported: [String: Int] = [:]
    /// Calls to optional functions the backend does not implement (skipped).
    public var unavailable: [String: Int] = [:]
    public var divergences: [Divergence] = []
    public var divergenceCounts: [String: Int] = [:]
    public var dataChecks: UInt64 = 0
    public var dataBytesChecked: UInt64 = 0
    public var dataFailures: UInt64 = 0
    /// Checks skipped because the backend moves no data.
    public var dataSkipped: UInt64 = 0
    public var bytesNotCompared: UInt64 = 0
    /// Data the plan could not check, by reason.
    public var uncheckable: [String: Int] = [:]
    public var transport: String?
    public var wallSeconds: Double = 0
    public var cpuSeconds: Double = 0
    public var operations: UInt64 = 0
    public var bytesMoved: UInt64 = 0
    public var pacing: Pacing?
    public var notes: [String] = []
    /// Why the replay stopped before the end (strict divergence, stuck, another endpoint).
    public var stopped: String?
    public var recordDirectory: String?
    /// Endpoints replayed in child processes (empty when everything ran here).
    public var children: [Child] = []

    public var totalDivergences: Int { self.divergenceCounts.values.reduce(0, +) }

    /// Nothing diverged and the replay ran to the end.
    public var ok: Bool {
        self.totalDivergences == 0 && self.stopped == nil && self.children.allSatisfy { $0.exitCode == 0 }
    }

    public var callsPerSecond: Double { self.wallSeconds > 0 ? Double(self.callsReplayed) / self.wallSeconds : 0 }
    public var callsPerCPUSecond: Double { self.cpuSeconds > 0 ? Double(self.callsReplayed) / self.cpuSeconds : 0 }
    public var operationsPerSecond: Double { self.wallSeconds > 0 ? Double(self.operations) / self.wallSeconds : 0 }
    public var mibPerSecond: Double { self.wallSeconds > 0 ? Double(self.bytesMoved) / 1_048_576 / self.wallSeconds : 0 }

    /// The calls of one function replayed.
    public func calls(_ name: String) -> UInt64 { self.functions.first { $0.function == name }?.calls ?? 0 }
}
