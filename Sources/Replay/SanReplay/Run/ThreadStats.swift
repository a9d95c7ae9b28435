/// What one replay thread counted. Plain fields: only its thread writes them; the report reads
/// them after the thread joined.
final class ThreadStats: @unchecked Sendable {
    /// Live call durations per function id (ns).
    let latency = LatencyBank()
    /// Pacing error per paced step (ns), in slot 0.
    let pacing = LatencyBank()
    /// Calls replayed per function id (raw memory: bumped on every call).
    let calls: UnsafeMutablePointer<UInt64>
    /// Calls skipped because the backend lacks the (optional) function.
    let unavailable: UnsafeMutablePointer<UInt64>
    /// TSC of the first and last call per function id (rates over each function's own span).
    let firstTSC: UnsafeMutablePointer<UInt64>
    let lastTSC: UnsafeMutablePointer<UInt64>
    var compared: UInt64 = 0
    var completionsCompared: UInt64 = 0
    /// Receive byte counts not compared because the backend moves no data.
    var bytesNotCompared: UInt64 = 0
    var dataChecks: UInt64 = 0
    var dataBytesChecked: UInt64 = 0
    var dataFailures: UInt64 = 0
    var dataSkipped: UInt64 = 0
    /// Bytes of operations that completed successfully (sends, receives, RDMA).
    var bytesMoved: UInt64 = 0
    var operations: UInt64 = 0
    /// Monotonic ns of the first and last call.
    var firstCall: UInt64 = 0
    var lastCall: UInt64 = 0
    /// CPU time of the thread (ns).
    var cpuNs: UInt64 = 0

    init() {
        func table() -> UnsafeMutablePointer<UInt64> {
            let p = UnsafeMutablePointer<UInt64>.allocate(capacity: LatencyBank.slots)
            p.initialize(repeating: 0, count: LatencyBank.slots)
            return p
        }
        self.calls = table()
        self.unavailable = table()
        self.firstTSC = table()
        self.lastTSC = table()
    }

    deinit {
        self.calls.deallocate()
        self.unavailable.deallocate()
        self.firstTSC.deallocate()
        self.lastTSC.deallocate()
    }

    func merge(_ o: ThreadStats) {
        self.latency.merge(o.latency)
        self.pacing.merge(o.pacing)
        for i in 0..<LatencyBank.slots {
            self.calls[i] &+= o.calls[i]
            self.unavailable[i] &+= o.unavailable[i]
            if o.firstTSC[i] != 0 && (self.firstTSC[i] == 0 || o.firstTSC[i] < self.firstTSC[i]) { self.firstTSC[i] = o.firstTSC[i] }
            self.lastTSC[i] = max(self.lastTSC[i], o.lastTSC[i])
        }
        self.compared &+= o.compared
        self.completionsCompared &+= o.completionsCompared
        self.bytesNotCompared &+= o.bytesNotCompared
        self.dataChecks &+= o.dataChecks
        self.dataBytesChecked &+= o.dataBytesChecked
        self.dataFailures &+= o.dataFailures
        self.dataSkipped &+= o.dataSkipped
        self.bytesMoved &+= o.bytesMoved
        self.operations &+= o.operations
        if o.firstCall != 0 { self.firstCall = self.firstCall == 0 ? o.firstCall : min(self.firstCall, o.firstCall) }
        self.lastCall = max(self.lastCall, o.lastCall)
        self.cpuNs &+= o.cpuNs
    }
}
