import CSanABI
import CSanReplay
import CSanSupport
import SanCore
import SanSwitch

#if canImport(Glibc)
import Glibc
#endif

/// Operations: preparing the WSAOVERLAPPED, publishing that an operation started, and observing
/// its completion (once: the first observer compares it and checks its data). Unsafe code: the
/// structures are shared with the provider.
extension ThreadRunner {
    static let inProgress = UInt(0x103)  // WSS_OPERATION_IN_PROGRESS

    /// Readies the structure of an operation about to start: zeroed, `Internal` in progress,
    /// `hEvent` selecting the recorded completion mode.
    @inline(__always)
    func prepare(_ ov: UnsafeMutablePointer<WSAOVERLAPPED>, mode: UInt8) {
        ov.pointee = WSAOVERLAPPED()
        ov.pointee.Internal = Self.inProgress
        ov.pointee.hEvent = mode == 1 ? self.event.handle : UnsafeMutableRawPointer(bitPattern: 1)
    }

    /// After the starting call returned: the operation is live (state 1) or never started (3).
    @inline(__always)
    func started(_ op: Int32, _ ok: Bool) {
        csan_replay_store_u32(self.live.opState + Int(op), ok ? 1 : 3)
    }

    @inline(__always)
    func published(_ ov: UnsafeMutablePointer<WSAOVERLAPPED>) -> Bool {
        withUnsafeMutablePointer(to: &ov.pointee.Internal) { csan_load_acquire_uptr($0) } != Self.inProgress
    }

    /// Waits for operation `x` to complete live, compares its completion with the recording and
    /// runs its data checks. Idempotent: later calls return at once.
    func observe(_ x: Int32) throws(ReplayStop) {
        let state = self.live.opState + Int(x)
        let s0 = csan_replay_load_u32(state)
        if s0 >= 2 { return }
        let op = self.live.ops[Int(x)]
        let origin = self.origin(op.origin)
        if s0 == 0 {
            try self.waitUntil("the start of \(self.describe(op: x))", origin: origin) { csan_replay_load_u32(state) != 0 }
            if csan_replay_load_u32(state) >= 2 { return }
        }
        let (status, bytes) = try self.completion(of: x, op)
        self.finish(x, op, status: status, bytes: bytes)
    }

    /// The live completion of a started operation: polled with WSPGetOverlappedResult in poll
    /// mode (the recorded incomplete polls were timing), read from the published structure in
    /// upcall mode.
    func completion(of x: Int32, _ op: OpPlan) throws(ReplayStop) -> (Int32, UInt32) {
        let ov = self.live.overlapped[Int(op.ov)]
        if op.mode == 2, let gor = self.live.procs.lpWSPGetOverlappedResult {
            let sock = op.socket >= 0 ? self.live.socketValues[Int(op.socket)] : sanInvalidSocket
            var result: (Int32, UInt32) = (0, 0)
            try self.waitUntil("the completion of \(self.describe(op: x))", origin: self.origin(op.origin)) {
                var bytes: UInt32 = 0, flags: UInt32 = 0, err: Int32 = 0
                if gor(sock, ov, &bytes, 0, &flags, &err) != 0 {
                    result = (0, bytes)
                    return true
                }
                if err == wsaIOIncomplete { return false }
                result = (err, bytes)
                return true
            }
            return result
        }
        try self.waitUntil("the completion upcall of \(self.describe(op: x))", origin: self.origin(op.origin)) {
            self.published(ov)
        }
        // The switch's upcall queues every completed structure on its event: empty the queue
        // now and then (the replay reads the structures themselves).
        self.upcallsSeen &+= 1
        if self.upcallsSeen & 255 == 0 { self.event.drainCompleted(into: &self.drained) }
        return (Int32(bitPattern: ov.pointee.OffsetHigh), UInt32(truncatingIfNeeded: ov.pointee.InternalHigh))
    }

    /// The first observer of an operation: compares and checks it.
    func finish(_ x: Int32, _ op: OpPlan, status: Int32, bytes: UInt32) {
        guard csan_replay_cas_u32(self.live.opState + Int(x), 1, 2) != 0 else { return }
        self.live.opStatus[Int(x)] = status
        self.live.opBytes[Int(x)] = bytes
        self.stats.operations &+= 1
        if status == 0 { self.stats.bytesMoved &+= UInt64(bytes) }
        if op.probe, status == 0, bytes > 0, !self.control.transportKnown { self.probe(op, bytes: bytes) }
        guard op.hasCompletion else { return }
        self.stats.completionsCompared &+= 1
        let o = self.origin(op.origin)
        if status != op.status {
            self.report(.completion, origin: o, function: "\(o?.function.name ?? "operation") completion",
                        recorded: "status \(wsaName(op.status)), \(op.bytes) bytes",
                        live: "status \(wsaName(status)), \(bytes) bytes", context: self.recentCalls())
            return
        }
        if bytes != op.bytes {
            if op.kind == .recv && !self.control.checksData {
                self.stats.bytesNotCompared &+= 1
            } else {
                self.report(.bytes, origin: o, function: "\(o?.function.name ?? "operation") completion",
                            recorded: "\(op.bytes) bytes", live: "\(bytes) bytes", context: self.recentCalls())
            }
        }
        // What landed is checked even after a byte-count divergence (an RDMA write checked at
        // this message is independent of the message's length).
        if status == 0 { self.runChecks(op) }
    }

    /// The first data-landing operation of the endpoint: its buffer was filled with 0xEE before
    /// it started. Still all 0xEE after a successful completion → the backend moves no data.
    private func probe(_ op: OpPlan, bytes: UInt32) {
        var left = Int(bytes)
        var untouched = true
        for i in Int(op.buffers)..<Int(op.buffers + op.bufferCount) where left > 0 {
            let n = min(left, Int(self.live.arena[i].length))
            let p = self.live.memory(i)
            for k in 0..<n where p[k] != 0xEE {
                untouched = false
                break
            }
            left -= n
        }
        let name = self.origin(op.origin)?.function.name ?? "receive"
        self.control.noteTransport(
            movesData: !untouched,
            untouched ? "the backend moves no data: \(self.plan.name)'s first \(name) completed with \(bytes) bytes and left its buffer untouched; data checks and received byte counts are skipped"
                : "the backend moves data (\(self.plan.name)'s first \(name) delivered bytes)")
    }

    /// Fills a probe operation's buffer with the sentinel.
    @inline(__always)
    func fillSentinel(_ op: OpPlan) {
        for i in Int(op.buffers)..<Int(op.buffers + op.bufferCount) {
            memset(self.live.memory(i), 0xEE, Int(self.live.arena[i].length))
        }
    }
}
