import CSanABI
import SanCore
import SanSwitch

/// Keeps up to `depth` operations in flight and reposts slots as they complete, until `total`
/// completed (perftest's tx depth). Each operation's time from post to completion is recorded.
///
/// Poll mode reaps in posting order (WSPGetOverlappedResult on the oldest slot); upcall mode
/// waits on the endpoint's event and takes whatever the completion upcall queued, in any order.
/// The measured loop allocates nothing.
final class OperationWindow {
    let endpoint: PerfEndpoint
    let depth: Int
    let total: Int
    let expectedBytes: UInt32
    let what: StaticString
    private let ops: [SanOperation]
    private var postedAt: [UInt64]
    private var slotOf: [UInt: Int] = [:]
    private var free: [Int]
    private var drained: [UInt] = []
    private(set) var posted = 0
    private(set) var completed = 0

    init(endpoint: PerfEndpoint, depth: Int, total: Int, expectedBytes: UInt32, what: StaticString) {
        self.endpoint = endpoint
        self.depth = max(1, min(depth, total))
        self.total = total
        self.expectedBytes = expectedBytes
        self.what = what
        self.ops = (0..<self.depth).map { _ in endpoint.operation() }
        self.postedAt = [UInt64](repeating: 0, count: self.depth)
        self.free = Array((0..<self.depth).reversed())
        self.drained.reserveCapacity(4 * self.depth)
        for (i, op) in self.ops.enumerated() { self.slotOf[UInt(bitPattern: op.overlapped)] = i }
    }

    private var upcall: Bool { self.endpoint.config.completion == .upcall }

    /// Posts until the window is full or every operation was posted. `post` starts one operation
    /// on the given slot number and operation.
    func fill(_ post: (Int, SanOperation) throws(SanSwitchError) -> Void) throws(PerfError) {
        while self.posted < self.total {
            let slot: Int
            if self.upcall {
                guard let s = self.free.popLast() else { return }
                slot = s
            } else {
                guard self.posted - self.completed < self.depth else { return }
                slot = self.posted % self.depth
            }
            self.postedAt[slot] = perfNow()
            do { try post(slot, self.ops[slot]) } catch {
                throw .failed("\(self.endpoint.side) side: \(self.what) #\(self.posted + 1): \(error)")
            }
            self.posted += 1
        }
    }

    /// Runs until every operation completed, recording post-to-completion times.
    func run(_ recorder: inout LatencyRecorder, _ post: (Int, SanOperation) throws(SanSwitchError) -> Void)
        throws(PerfError)
    {
        while self.completed < self.total {
            try self.fill(post)
            if self.upcall { try self.reapUpcalls(&recorder) } else { try self.reapOldest(&recorder) }
        }
    }

    private func reapOldest(_ recorder: inout LatencyRecorder) throws(PerfError) {
        let slot = self.completed % self.depth
        let bytes = try self.endpoint.complete(self.ops[slot], self.what)
        try self.finished(slot, bytes: bytes, &recorder)
    }

    private func reapUpcalls(_ recorder: inout LatencyRecorder) throws(PerfError) {
        let timeoutMs = Int32(min(self.endpoint.config.timeoutSeconds * 1000, Int(Int32.max)))
        guard self.endpoint.event.wait(timeoutMilliseconds: timeoutMs) else {
            throw .failed("\(self.endpoint.side) side: \(self.what): no completion within \(self.endpoint.config.timeoutSeconds) s")
        }
        self.endpoint.event.drainCompleted(into: &self.drained)
        for address in self.drained {
            // Other operations may report to the same event; they are waited for elsewhere.
            guard let slot = self.slotOf[address], let c = self.ops[slot].published else { continue }
            if let e = c.error { throw .failed("\(self.endpoint.side) side: \(self.what) completed with \(e)") }
            try self.finished(slot, bytes: c.bytes, &recorder)
            self.free.append(slot)
        }
    }

    private func finished(_ slot: Int, bytes: UInt32, _ recorder: inout LatencyRecorder) throws(PerfError) {
        recorder.record(perfNow() &- self.postedAt[slot])
        guard bytes == self.expectedBytes else {
            throw .failed("\(self.endpoint.side) side: \(self.what) completed with \(bytes) bytes, expected \(self.expectedBytes)")
        }
        self.completed += 1
    }
}
