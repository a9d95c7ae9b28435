import CSanABI
import CSanReplay
import CSanSupport
import SanCore
import SanSwitch

#if canImport(Glibc)
import Glibc
#endif

/// One live call per step kind, through the provider's function pointers, with the arguments
/// rebuilt from the plan and the live slots. Unsafe code: raw pointers into the endpoint's
/// tables and memory.
extension ThreadRunner {
    // MARK: Live objects

    /// The live SOCKET of a slot; waits (bounded) when another thread has yet to create it.
    @inline(__always)
    func socket(_ slot: Int32, _ s: Step) throws(ReplayStop) -> SOCKET {
        guard slot >= 0 else { return sanInvalidSocket }
        let st = self.live.state(self.live.socketState, slot)
        if st == LiveEndpoint.ready { return self.live.socketValues[Int(slot)] }
        if st == LiveEndpoint.unset {
            try self.waitUntil("socket slot \(slot) to be created by another thread", origin: self.origin(s.origin)) {
                self.live.state(self.live.socketState, slot) != LiveEndpoint.unset
            }
        }
        return self.live.state(self.live.socketState, slot) == LiveEndpoint.ready ? self.live.socketValues[Int(slot)]
            : sanInvalidSocket
    }

    @inline(__always)
    func handle(_ slot: Int32, _ s: Step) throws(ReplayStop) -> UnsafeMutableRawPointer? {
        guard slot >= 0 else { return nil }
        if self.live.state(self.live.handleState, slot) == LiveEndpoint.unset {
            try self.waitUntil("memory handle slot \(slot) to be registered by another thread", origin: self.origin(s.origin)) {
                self.live.state(self.live.handleState, slot) != LiveEndpoint.unset
            }
        }
        return UnsafeMutableRawPointer(bitPattern: self.live.handleValues[Int(slot)])
    }

    /// A descriptor slot's bytes: registered here (waits for the registering thread), or another
    /// endpoint's, fetched once from the coordinator.
    @inline(__always)
    func descriptor(_ slot: Int32, _ s: Step) throws(ReplayStop) -> (UnsafeMutableRawPointer?, UInt32) {
        guard slot >= 0 else { return (nil, 0) }
        if self.live.state(self.live.descriptorState, slot) != LiveEndpoint.ready {
            try self.fetchDescriptor(slot, s)
        }
        return (self.live.descriptor(slot), self.live.descriptorLength[Int(slot)])
    }

    private func fetchDescriptor(_ slot: Int32, _ s: Step) throws(ReplayStop) {
        let d = self.plan.descriptors[Int(slot)]
        guard let key = d.remoteKey else {
            try self.waitUntil("RDMA descriptor slot \(slot) to be registered", origin: self.origin(s.origin)) {
                self.live.state(self.live.descriptorState, slot) != LiveEndpoint.unset
            }
            return
        }
        csan_replay_store_u32(self.waiting, 1)
        let got = self.control.coordinator.wait(key, timeoutNs: self.control.timeoutNs, stopped: { self.control.stopped })
        csan_replay_store_u32(self.waiting, 0)
        guard let bytes = got else {
            if self.control.stopped { throw .stopped }
            self.diverge(s, .stuck, recorded: "the peer registered the target region",
                         live: "no live descriptor for \(key) within \(Double(self.control.timeoutNs) / 1e9) s")
            self.control.stop("stuck waiting for \(key)")
            throw .stuck
        }
        self.live.setDescriptor(slot, bytes: bytes)
    }

    /// A coordinator value, or a `stuck` divergence.
    func await(_ key: String, _ s: Step, _ what: String) throws(ReplayStop) -> [UInt8] {
        csan_replay_store_u32(self.waiting, 1)
        let got = self.control.coordinator.wait(key, timeoutNs: self.control.timeoutNs, stopped: { self.control.stopped })
        csan_replay_store_u32(self.waiting, 0)
        if let v = got { return v }
        if self.control.stopped { throw .stopped }
        self.diverge(s, .stuck, recorded: what, live: "\(key) not published within \(Double(self.control.timeoutNs) / 1e9) s")
        self.control.stop("stuck waiting for \(key)")
        throw .stuck
    }

    // MARK: Dispatch

    func execute(_ s: Step) throws(ReplayStop) {
        switch s.kind {
        case .send, .recv, .rdmaWrite, .rdmaRead: try self.dataPath(s)
        case .getOverlappedResult: try self.poll(s)
        case .socket, .bind, .listen, .connect, .accept, .closeSocket: try self.lifecycle(s)
        case .eventSelect, .enumNetworkEvents: try self.networkEvents(s)
        case .registerMemory, .deregisterMemory, .registerRdmaMemory, .deregisterRdmaMemory, .cacheCallback:
            try self.memory(s)
        default: try self.other(s)
        }
    }

    // MARK: Data path

    private func dataPath(_ s: Step) throws(ReplayStop) {
        let sock = try self.socket(s.socket, s)
        var ov: UnsafeMutablePointer<WSAOVERLAPPED>? = nil
        if s.ov >= 0 {
            let o = self.live.overlapped[Int(s.ov)]
            ov = o
            let op = s.op >= 0 ? self.live.ops[Int(s.op)] : nil
            self.prepare(o, mode: op?.mode ?? 2)
            if let op {
                if op.fill { self.fill(op) }
                if op.probe, !self.control.transportKnown { self.fillSentinel(op) }
            }
        }
        var bytes: UInt32 = 0, flags: UInt32 = UInt32(truncatingIfNeeded: s.a), err: Int32 = 0
        var rc: Int32
        let t0 = csan_rdtsc()
        switch s.kind {
        case .send:
            rc = self.live.procs.lpWSPSend!(sock, self.live.wsabuf + Int(s.buffers), UInt32(s.bufferCount), &bytes, flags, ov,
                                             nil, nil, &err)
        case .recv:
            rc = self.live.procs.lpWSPRecv!(sock, self.live.wsabuf + Int(s.buffers), UInt32(s.bufferCount), &bytes, &flags,
                                             ov, nil, nil, &err)
        default:
            let (d, dlen) = try self.descriptor(s.object, s)
            for i in Int(s.buffers)..<Int(s.buffers + s.bufferCount) {
                let h = self.live.arena[i].handle
                if h >= 0, self.live.state(self.live.handleState, h) == LiveEndpoint.unset { _ = try self.handle(h, s) }
            }
            self.live.patchHandles(s.buffers, s.bufferCount)
            let offset = UInt32(truncatingIfNeeded: s.b), rflags = UInt32(truncatingIfNeeded: s.c)
            if s.kind == .rdmaWrite {
                rc = self.live.ext.rdmaWrite(sock, self.live.wsabufex + Int(s.buffers), UInt32(s.bufferCount), d, dlen, offset,
                                             &bytes, rflags, ov, nil, nil, &err)
            } else if let read = self.live.ext.rdmaRead {
                rc = read(sock, self.live.wsabufex + Int(s.buffers), UInt32(s.bufferCount), d, dlen, offset, &bytes, rflags,
                          ov, nil, nil, &err)
            } else {
                rc = -1
                err = WSAEOPNOTSUPP
            }
        }
        self.timed(s, t0)
        if rc == 0 { err = 0 }
        let startedLive = ov != nil && (rc == 0 || err == wsaIOPending)
        if s.op >= 0 {
            self.started(s.op, startedLive)
        } else if startedLive, s.ov >= 0 {
            // Started live but not when recorded: the provider owns that structure now.
            self.live.abandonOverlapped(s.ov)
        }
        self.compare(s, ret: Int64(rc), err: err, bytes: bytes)
    }

    /// A WSPGetOverlappedResult that returned an operation: waits for it (the recorded incomplete
    /// polls were timing) and compares it as that operation's completion. Otherwise one call.
    private func poll(_ s: Step) throws(ReplayStop) {
        let sock = try self.socket(s.socket, s)
        if s.op >= 0, csan_replay_load_u32(self.live.opState + Int(s.op)) < 2 {
            let op = self.live.ops[Int(s.op)]
            let ov = self.live.overlapped[Int(op.ov)]
            if csan_replay_load_u32(self.live.opState + Int(s.op)) == 0 {
                try self.waitUntil("the start of \(self.describe(op: s.op))", origin: self.origin(s.origin)) {
                    csan_replay_load_u32(self.live.opState + Int(s.op)) != 0
                }
            }
            guard csan_replay_load_u32(self.live.opState + Int(s.op)) == 1 else { return }
            if s.a != 0 {
                // fWait TRUE: a blocking wait cannot be bounded; wait for the provider to publish
                // the result, then make the recorded call, which returns at once.
                try self.waitUntil("the completion of \(self.describe(op: s.op))", origin: self.origin(s.origin)) {
                    self.published(ov)
                }
            }
            var result: (Int32, UInt32) = (0, 0)
            let gor = self.live.procs.lpWSPGetOverlappedResult!
            var t0 = csan_rdtsc()
            try self.waitUntil("the completion of \(self.describe(op: s.op))", origin: self.origin(s.origin)) {
                var bytes: UInt32 = 0, flags: UInt32 = 0, err: Int32 = 0
                t0 = csan_rdtsc()
                if gor(sock, ov, &bytes, s.a != 0 ? 1 : 0, &flags, &err) != 0 {
                    result = (0, bytes)
                    return true
                }
                if err == wsaIOIncomplete { return false }
                result = (err, bytes)
                return true
            }
            self.timed(s, t0)
            self.finish(s.op, op, status: result.0, bytes: result.1)
            return
        }
        // A plain call (or a repeated poll of an operation already observed).
        let ov = s.ov >= 0 ? self.live.overlapped[Int(s.ov)] : nil
        var bytes: UInt32 = 0, flags: UInt32 = 0, err: Int32 = 0
        let t0 = csan_rdtsc()
        let ok = self.live.procs.lpWSPGetOverlappedResult!(sock, ov, &bytes, s.a != 0 ? 1 : 0, &flags, &err)
        self.timed(s, t0)
        var step = s
        if s.op >= 0, s.d == 1, !self.control.checksData { step.compare &= ~Compare.bytes }
        self.compareBool(step, ok: ok != 0, err: ok != 0 ? 0 : err, bytes: bytes)
    }

    /// Compares a BOOL-returning call (1 TRUE, 0 FALSE as recorded).
    func compareBool(_ s: Step, ok: Bool, err: Int32, bytes: UInt32) {
        var st = s
        st.expectRet = s.expectRet != 0 ? 0 : -1
        self.compare(st, ret: ok ? 0 : -1, err: err, bytes: bytes)
    }
}
