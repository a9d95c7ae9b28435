import CSanABI
import CSanReplay
import CSanSupport
import SanCore
import SanSwitch

#if canImport(Glibc)
import Glibc
#endif

/// Plays a ``SyntheticPlan``: the missing side of a one-sided trace, through the switch's API
/// (it is not compared call by call with any recording; what it receives is checked, and its
/// failures are reported as divergences of the synthetic peer).
final class SyntheticRunner: @unchecked Sendable {
    let plan: SyntheticPlan
    let control: ReplayControl
    let provider: SanProvider
    let stats = ThreadStats()
    /// Receives kept posted ahead.
    static let window = 16

    init(plan: SyntheticPlan, control: ReplayControl, provider: SanProvider) {
        self.plan = plan
        self.control = control
        self.provider = provider
    }

    private struct Failure: Error { var text: String }

    func run() {
        do {
            try self.play()
        } catch let f as Failure {
            self.fail(f.text)
        } catch {
            self.fail("\(error)")
        }
    }

    private func fail(_ text: String) {
        guard !self.control.stopped else { return }
        self.control.diverged(Divergence(kind: .result, endpoint: self.plan.name, thread: 0, threadSeq: 0, seq: 0,
                                         function: "synthetic peer", overlapped: 0, recorded: "the peer's part succeeds",
                                         live: text, context: ["peer of \(self.control.describe(endpoint: Int32(self.plan.recordedEndpoint), origin: -1))"]))
    }

    private var timeoutMs: Int32 { Int32(min(Double(self.control.timeoutNs) / 1e6, 2e9)) }

    private func key(_ k: String, _ what: String) throws -> [UInt8] {
        guard let v = self.control.coordinator.wait(k, timeoutNs: self.control.timeoutNs, stopped: { self.control.stopped })
        else { throw Failure(text: "\(what) (\(k)) not published within \(Double(self.control.timeoutNs) / 1e9) s") }
        return v
    }

    private func connect() throws -> SanSocket {
        let family = self.plan.family == AF_INET6 ? AF_INET6 : AF_INET
        if self.plan.peer.recordedConnected {
            let listener = try SanSocket(provider: self.provider, family: family)
            try listener.bind(SanAddress(bytes: RecordedAddress.loopback(family: family, port: 0).bytes))
            try listener.listen()
            guard let local = listener.localAddress else { throw Failure(text: "the listener's port is unknown (no WSPGetSockName)") }
            self.control.coordinator.publish(self.plan.peer.listenKey, local.bytes)
            let deadline = csan_monotonic_ns() &+ self.control.timeoutNs
            while true {
                do {
                    let (s, _) = try listener.accept(timeoutMilliseconds: 100)
                    try? listener.close()
                    return s
                } catch SanSwitchError.timedOut {
                    if self.control.stopped { throw Failure(text: "stopped") }
                    if csan_monotonic_ns() >= deadline { throw Failure(text: "no connection from the recorded side") }
                }
            }
        }
        if let after = self.plan.peer.acceptOrder { _ = try self.key(after, "the previous connection accepted") }
        let address = try self.key(self.plan.peer.listenKey, "the recorded side's listener")
        let s = try SanSocket(provider: self.provider, family: family)
        try s.connect(to: SanAddress(bytes: address), timeoutMilliseconds: self.timeoutMs)
        return s
    }

    private func play() throws {
        let socket = try self.connect()
        defer { try? socket.close() }
        // One block: receive slots, then the send buffer.
        let slot = Int(max(self.plan.incoming.map(\.length).max() ?? 1, 1))
        let sendSize = Int(max(self.plan.outgoing.map { UInt64($0.length) }.max() ?? 1, 1))
        let window = max(1, min(Self.window, self.plan.incoming.count))
        let total = slot * window + sendSize
        let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: total, alignment: 4096)
        memory.initializeMemory(as: UInt8.self, repeating: 0)
        let reg = try socket.register(memory, access: .readWrite)
        // Regions the recorded side reaches by RDMA.
        var regions: [(UnsafeMutableRawBufferPointer, SanRdmaDescriptor)] = []
        for r in self.plan.regions {
            let m = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(r.length), alignment: 4096)
            csan_replay_fill(m.baseAddress!.assumingMemoryBound(to: UInt8.self), r.length, r.seed, 0)
            let d = try socket.registerRdma(m, access: SanAccess(rawValue: r.access))
            regions.append((m, d))
            self.control.coordinator.publish(r.key, d.bytes)
        }
        let recvOps = (0..<window).map { _ in SanOperation(mode: .poll) }
        let sendOp = SanOperation(mode: .poll)
        var posted = 0
        func post(_ k: Int) throws {
            let b = reg.buffer(offset: UInt32((k % window) * slot), length: UInt32(slot))
            try socket.recv([b], operation: recvOps[k % window])
            posted = k + 1
        }
        var received = 0
        func receive() throws {
            let k = received
            let c = try recvOps[k % window].wait(timeoutNanoseconds: self.control.timeoutNs, strategy: .yield)
            if let e = c.error { throw Failure(text: "receive of message \(k) completed with \(e)") }
            self.verify(k, memory.baseAddress! + (k % window) * slot, bytes: c.bytes, regions: regions)
            received += 1
            if posted < self.plan.incoming.count { try post(posted) }
        }
        for k in 0..<min(window, self.plan.incoming.count) { try post(k) }
        let sendBase = memory.baseAddress! + slot * window
        for out in self.plan.outgoing {
            while received < min(out.after, self.plan.incoming.count) {
                if self.control.stopped { return }
                try receive()
            }
            self.write(out.content, sendBase.assumingMemoryBound(to: UInt8.self), UInt64(out.length))
            try socket.send([reg.buffer(offset: UInt32(slot * window), length: out.length)], operation: sendOp)
            let c = try sendOp.wait(timeoutNanoseconds: self.control.timeoutNs, strategy: .yield)
            if let e = c.error { throw Failure(text: "send completed with \(e)") }
            self.stats.bytesMoved &+= UInt64(c.bytes)
        }
        while received < self.plan.incoming.count {
            if self.control.stopped { return }
            try receive()
        }
        // Keep the regions until the recorded side is done with them.
        _ = self.control.coordinator.wait(Pairing.doneKey(self.plan.recordedEndpoint), timeoutNs: self.control.timeoutNs,
                                          stopped: { self.control.stopped })
        for (_, d) in regions { try? socket.deregisterRdma(d) }
        try? socket.deregister(reg)
    }

    private func write(_ c: Content, _ p: UnsafeMutablePointer<UInt8>, _ length: UInt64) {
        var done: UInt64 = 0
        if c.kind == .recorded {
            let b = self.plan.recorded[Int(c.recorded)]
            let n = min(length, UInt64(b.count))
            _ = b.withUnsafeBufferPointer { memcpy(p, $0.baseAddress!, Int(n)) }
            done = n
        }
        if done < length { csan_replay_fill(p + Int(done), length - done, c.seed, done) }
    }

    private func matches(_ c: Content, _ p: UnsafePointer<UInt8>, _ length: UInt64, position: UInt64) -> Bool {
        var done: UInt64 = 0
        if c.kind == .recorded {
            let b = self.plan.recorded[Int(c.recorded)]
            if position < UInt64(b.count) {
                let n = min(length, UInt64(b.count) - position)
                if b.withUnsafeBufferPointer({ memcmp(p, $0.baseAddress! + Int(position), Int(n)) }) != 0 { return false }
                done = n
            }
        }
        return done >= length || csan_replay_verify(p + Int(done), length - done, c.seed, position + done) < 0
    }

    /// Checks message `k` (and the recorded side's RDMA writes that precede it).
    private func verify(_ k: Int, _ p: UnsafeMutableRawPointer, bytes: UInt32,
                        regions: [(UnsafeMutableRawBufferPointer, SanRdmaDescriptor)]) {
        let m = self.plan.incoming[k]
        self.stats.operations &+= 1
        self.stats.bytesMoved &+= UInt64(bytes)
        guard self.control.checksData else {
            self.stats.dataSkipped &+= UInt64(1 + m.writeChecks.count)
            return
        }
        if UInt64(bytes) != m.length {
            self.data("message \(k) has \(bytes) bytes, the recorded side sent \(m.length)", m.origin)
            return
        }
        if m.content.kind != .unknown {
            self.stats.dataChecks &+= 1
            self.stats.dataBytesChecked &+= m.length
            if !self.matches(m.content, p.assumingMemoryBound(to: UInt8.self), m.length, position: 0) {
                self.stats.dataFailures &+= 1
                self.data("message \(k) differs from what the recorded side sent", m.origin)
            }
        }
        for w in m.writeChecks where Int(w.block) < regions.count {
            self.stats.dataChecks &+= 1
            self.stats.dataBytesChecked &+= w.length
            let base = regions[Int(w.block)].0.baseAddress! + Int(w.blockOffset)
            if !self.matches(w.content, base.assumingMemoryBound(to: UInt8.self), w.length, position: w.position) {
                self.stats.dataFailures &+= 1
                self.data("region \(w.block) bytes [\(w.blockOffset), \(w.blockOffset + w.length)) differ from the recorded side's RDMA write, checked when message \(k) arrived", w.sourceOrigin)
            }
        }
    }

    private func data(_ text: String, _ origin: Int32) {
        self.control.diverged(Divergence(kind: .data, endpoint: self.plan.name, thread: 0, threadSeq: 0, seq: 0,
                                         function: "synthetic peer data", overlapped: 0, recorded: "the recorded side's bytes",
                                         live: text, context: ["source: \(self.control.describe(endpoint: Int32(self.plan.recordedEndpoint), origin: origin))"]))
    }
}
