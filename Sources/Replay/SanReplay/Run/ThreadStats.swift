/// What one replay thread counted. Plain fields: only its thread writes them; the report reads
/// them after the thread joined.
final class ThreadStats: @unchecked Sendable {
    /// Live call durations per function id (ns).
    let latency = LatencyBank()
    /// Pacing error per paced step (ns), in slot 0.
    let pacing = LatencyBank()
    /// Calls replayed per function id.
    var calls = [UInt64](repeating: 0, count: LatencyBank.slots)
    /// Calls skipped because the backend lacks the (optional) function.
    var unavailable = [UInt64](repeating: 0, count: LatencyBank.slots)
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

    func merge(_ o: ThreadStats) {
        self.latency.merge(o.latency)
        self.pacing.merge(o.pacing)
        for i in self.calls.indices {
            self.calls[i] &+= o.calls[i]
            self.unavailable[i] &+= o.unavailable[i]
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
