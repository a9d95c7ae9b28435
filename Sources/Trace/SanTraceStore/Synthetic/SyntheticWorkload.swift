import SanTraceFormat

/// Generates realistic event streams from the schema, deterministically from a seed: what
/// sanperf-like workloads look like to the interposer (capture ids, buffer offsets, TSC deltas of
/// a 3 GHz TSC). Used by tests, benchmarks and `sanreplay`'s synthetic traces.
///
/// - `writeBandwidth`: one thread, a connected socket, a 16-deep window of 64 KiB RDMA writes
///   completed by polling WSPGetOverlappedResult (some polls find the write still running).
/// - `pingPong`: one thread, 64-byte WSPSend / WSPRecv with upcall completions.
/// - `registrationChurn`: register / deregister buffers of varying size.
/// - `mixed`: three threads, one of each, interleaved in time.
public struct SyntheticWorkload {
    public enum Kind: String, CaseIterable, Sendable {
        case writeBandwidth = "write_bw"
        case pingPong = "pingpong"
        case registrationChurn = "churn"
        case mixed
    }

    public let kind: Kind
    /// Draws that decide what the program does (sizes, addresses).
    private var rng: SplitMix64
    /// Draws that decide timing only (jitter, whether a poll finds the operation still running):
    /// the structure stream itself unless a ``SyntheticVariation`` gives it its own seed.
    private var timing: SplitMix64?
    public let variation: SyntheticVariation
    /// RDMA writes posted so far (the index ``SyntheticVariation/failRdmaWriteAt`` counts).
    private var rdmaWrites: UInt64 = 0
    /// The clock: 3 GHz ticks.
    private var now: UInt64 = 1_000_000_000
    private var threads: [ThreadState] = []

    /// Ticks per nanosecond of the synthetic TSC.
    public static let ticksPerNanosecond: UInt64 = 3
    public static var clock: ClockCalibration {
        ClockCalibration(tscHz: 3e9, anchorTSC: 1_000_000_000, anchorRealtimeNs: 1_700_000_000_000_000_000,
                         anchorMonotonicNs: 0)
    }

    /// A class: the generator mutates one in place per step (a struct copied out of the array
    /// would copy its arrays on every mutation).
    final class ThreadState {
        var id: UInt32
        var role: Kind
        var seq: UInt64 = 0
        var iteration: UInt64 = 0
        /// Iterations of the workload loop done (setup excluded).
        var steps: UInt64 = 0
        var setUp = false
        var clock: UInt64 = 0
        /// Outstanding RDMA writes: (ov, enter thread seq, enter tsc).
        var window: [(ov: UInt64, seq: UInt64)] = []
        var socket: UInt64 = 0
        var registration: UInt64 = 0
        var descriptor: UInt64 = 0
        var nextHandle: UInt64 = 100
        var live: [(handle: UInt64, length: UInt32)] = []

        init(id: UInt32, role: Kind) {
            self.id = id
            self.role = role
        }
    }

    public init(_ kind: Kind, seed: UInt64 = 1, variation: SyntheticVariation = SyntheticVariation()) {
        self.kind = kind
        self.rng = SplitMix64(seed: seed)
        self.variation = variation
        self.timing = variation.timingSeed.map { SplitMix64(seed: $0 ^ 0x7469_6D69_6E67) }
        switch kind {
        case .mixed:
            self.threads = [ThreadState(id: 1, role: .writeBandwidth), ThreadState(id: 2, role: .pingPong),
                            ThreadState(id: 3, role: .registrationChurn)]
        default:
            self.threads = [ThreadState(id: 1, role: kind)]
        }
        for i in self.threads.indices {
            self.threads[i].clock = self.now
            self.threads[i].socket = UInt64(i + 1)
            self.threads[i].registration = UInt64(10 * (i + 1))
            self.threads[i].descriptor = UInt64(1000 + i)
        }
    }

    /// Appends at least `events` events to `sink` (it stops after the iteration that reaches the count).
    /// Returns the number appended.
    @discardableResult
    public mutating func generate<S: EventSink>(into sink: S, events: Int) throws -> Int {
        var n = 0
        while n < events {
            // The thread whose clock is furthest behind goes next: threads interleave in time.
            var t = 0
            for i in self.threads.indices where self.threads[i].clock < self.threads[t].clock { t = i }
            n += try self.step(self.threads[t], sink)
        }
        return n
    }

    /// Runs every thread's loop exactly `iterations` times (after its setup), interleaved in time:
    /// what one run of a deterministic program looks like, whatever its timing (the event count
    /// then varies with the polls that find nothing). Returns the number of events appended.
    @discardableResult
    public mutating func generate<S: EventSink>(into sink: S, iterationsPerThread iterations: UInt64) throws -> Int {
        var n = 0
        while true {
            var t = -1
            for i in self.threads.indices where self.threads[i].steps < iterations || !self.threads[i].setUp {
                if t < 0 || self.threads[i].clock < self.threads[t].clock { t = i }
            }
            guard t >= 0 else { return n }
            n += try self.step(self.threads[t], sink)
        }
    }

    /// A jittered delay in ticks around `ns` nanoseconds (±25 %).
    private mutating func ticks(_ ns: UInt64) -> UInt64 {
        let base = ns * Self.ticksPerNanosecond
        return base - base / 4 + self.timingDraw() % (base / 2 + 1)
    }

    /// A draw that only affects timing.
    private mutating func timingDraw() -> UInt64 {
        if self.timing != nil { return self.timing!.next() }
        return self.rng.next()
    }

    /// `ns` scaled by the variation's slowdown of `f`.
    private func slowed(_ ns: UInt64, _ f: FunctionID) -> UInt64 {
        guard let factor = self.variation.slowdown[f] else { return ns }
        return UInt64(max(0, (Double(ns) * factor).rounded()))
    }

    private mutating func emit<S: EventSink>(_ s: ThreadState, _ sink: S, _ kind: EventKind, _ f: FunctionID,
                                             after ns: UInt64,
                                             _ fields: (inout EventFieldWriter) -> Void) throws {
        s.clock &+= self.ticks(ns)
        s.seq &+= 1
        try sink.append(kind, f, thread: s.id, threadSeq: s.seq, tsc: s.clock, fields: fields)
    }

    private mutating func step<S: EventSink>(_ s: ThreadState, _ sink: S) throws -> Int {
        if !s.setUp {
            s.setUp = true
            return try self.setUp(s, sink)
        }
        s.steps += 1
        switch s.role {
        case .writeBandwidth: return try self.writeIteration(s, sink)
        case .pingPong: return try self.pingPongIteration(s, sink)
        case .registrationChurn, .mixed: return try self.churnIteration(s, sink)
        }
    }

    private mutating func setUp<S: EventSink>(_ s: ThreadState, _ sink: S) throws -> Int {
        let sock = s.socket, reg = s.registration, desc = s.descriptor
        let port = UInt16(40000 + s.id)
        let base = 0x7F00_0000_0000 + UInt64(s.id) << 32
        let addr: [UInt8] = [2, 0, UInt8(port >> 8), UInt8(port & 0xFF), 127, 0, 0, 1] + [UInt8](repeating: 0, count: 8)
        try self.emit(s, sink, .enter, .WSPSocket, after: 1000) { w in
            w.i32(2); w.i32(1); w.i32(0); w.flags(1)
        }
        try self.emit(s, sink, .leave, .WSPSocket, after: 5000) { w in w.socket(sock); w.wsaError(0) }
        try self.emit(s, sink, .enter, .WSPConnect, after: 500) { w in w.socket(sock); w.sockaddr(addr) }
        try self.emit(s, sink, .leave, .WSPConnect, after: 40000) { w in w.i32(0); w.wsaError(0) }
        for e in 0..<UInt32(7) {
            let g = [UInt8](repeating: UInt8(e), count: 16)
            try self.emit(s, sink, .lookup, .none, after: 300) { w in w.guid(g); w.u32(33 + e); w.wsaError(0) }
        }
        try self.emit(s, sink, .enter, .WSPRegisterMemory, after: 800) { w in
            w.socket(sock); w.address(registration: 0, offset: base)
            w.u32(16 << 20); w.flags(3)
        }
        try self.emit(s, sink, .leave, .WSPRegisterMemory, after: 20000) { w in w.memHandle(reg); w.wsaError(0) }
        try self.emit(s, sink, .enter, .WSPRegisterRdmaMemory, after: 800) { w in
            w.socket(sock); w.address(registration: reg, offset: 0); w.u32(16 << 20); w.flags(2); w.u32(64)
        }
        let dbytes = (0..<24).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ Int(s.id)) }
        try self.emit(s, sink, .leave, .WSPRegisterRdmaMemory, after: 25000) { w in
            w.i32(0); w.wsaError(0); w.u32(24); w.rdmaDescriptor(desc); w.descriptorBytes(dbytes)
        }
        return 15
    }

    /// One RDMA write posted, then polls on the oldest write once the window is full.
    private mutating func writeIteration<S: EventSink>(_ s: ThreadState, _ sink: S) throws -> Int {
        let depth: UInt64 = 16, size: UInt32 = 65536
        let slot = s.iteration % depth
        let ov = 1 + slot
        let sock = s.socket, reg = s.registration, desc = s.descriptor
        var n = 0
        try self.emit(s, sink, .enter, .WSPRdmaWrite, after: 150) { w in
            w.socket(sock)
            w.bufferListEx(count: 1)
            w.buffer(length: size, registration: reg, offset: slot * UInt64(size), handle: reg)
            w.rdmaDescriptor(desc); w.u32(size); w.u32(UInt32(slot) * size); w.u32(0); w.overlapped(ov)
            w.completionMode(2); w.payloadNone()
        }
        let index = self.rdmaWrites
        self.rdmaWrites += 1
        if index == self.variation.failRdmaWriteAt {
            // The injected semantic change: this write fails outright (no operation, no completion).
            try self.emit(s, sink, .leave, .WSPRdmaWrite, after: 250) { w in w.i32(-1); w.wsaError(10054); w.u32(0) }
            s.iteration += 1
            return 2
        }
        s.window.append((ov, s.seq))
        try self.emit(s, sink, .leave, .WSPRdmaWrite, after: self.slowed(250, .WSPRdmaWrite)) { w in
            w.i32(-1); w.wsaError(997); w.u32(0)
        }
        n += 2
        s.iteration += 1
        while s.window.count >= Int(depth) {
            let (oldOv, startSeq) = s.window[0]
            let done = self.timingDraw() % 4 != 0  // a quarter of the polls find the write still running
            try self.emit(s, sink, .enter, .WSPGetOverlappedResult, after: 120) { w in
                w.socket(sock); w.overlapped(oldOv); w.bool(false)
            }
            try self.emit(s, sink, .leave, .WSPGetOverlappedResult, after: 80) { w in
                w.bool(done); w.wsaError(done ? 0 : 996); w.u32(done ? size : 0); w.flags(0)
            }
            n += 2
            if done {
                let thread = s.id
                try self.emit(s, sink, .completion, .none, after: 10) { w in
                    w.overlapped(oldOv); w.callRef(thread: thread, sequence: startSeq); w.u32(37); w.socket(sock)
                    w.wsaError(0); w.u32(size); w.flags(0); w.completionVia(2); w.payloadNone()
                }
                s.window.removeFirst()
                n += 1
            } else {
                s.clock &+= self.ticks(self.slowed(2000, .WSPRdmaWrite))
            }
        }
        return n
    }

    /// 64-byte send then receive, each completed through the completion upcall.
    private mutating func pingPongIteration<S: EventSink>(_ s: ThreadState, _ sink: S) throws -> Int {
        let sock = s.socket, reg = s.registration, thread = s.id
        for (fn, ov) in [(FunctionID.WSPSend, UInt64(1)), (FunctionID.WSPRecv, UInt64(2))] {
            try self.emit(s, sink, .enter, fn, after: 200) { w in
                w.socket(sock); w.bufferList(count: 1)
                w.buffer(length: 64, registration: reg, offset: fn == .WSPSend ? 0 : 4096)
                w.flags(0); w.overlapped(ov); w.completionMode(1)
                if fn == .WSPSend { w.payloadNone() }
            }
            let start = s.seq
            try self.emit(s, sink, .leave, fn, after: self.slowed(300, fn)) { w in
                w.i32(-1); w.wsaError(997); w.u32(0)
                if fn == .WSPRecv { w.flags(0); w.payloadNone() }
            }
            try self.emit(s, sink, .upcall, .WPUCompleteOverlappedRequest,
                          after: self.slowed(fn == .WSPSend ? 1500 : 4000, fn)) { w in
                w.switchSocket(sock + 500); w.overlapped(ov); w.wsaError(0); w.u32(64); w.i32(0)
            }
            try self.emit(s, sink, .completion, .none, after: 30) { w in
                w.overlapped(ov); w.callRef(thread: thread, sequence: start); w.u32(UInt32(fn.rawValue)); w.socket(sock)
                w.wsaError(0); w.u32(64); w.flags(0); w.completionVia(1); w.payloadNone()
            }
        }
        return 8
    }

    /// Registers a buffer (size 4 KiB … 4 MiB); deregisters the oldest once eight are live.
    private mutating func churnIteration<S: EventSink>(_ s: ThreadState, _ sink: S) throws -> Int {
        let sock = s.socket
        let length = UInt32(4096) << UInt32(self.rng.next() % 11)
        let handle = s.nextHandle
        s.nextHandle += 1
        let address = 0x7F10_0000_0000 + (self.rng.next() % 4096) * 4096
        try self.emit(s, sink, .enter, .WSPRegisterMemory, after: 2000) { w in
            w.socket(sock); w.address(registration: 0, offset: address); w.u32(length); w.flags(3)
        }
        try self.emit(s, sink, .leave, .WSPRegisterMemory, after: self.slowed(3000 + UInt64(length / 1024), .WSPRegisterMemory)) { w in
            w.memHandle(handle); w.wsaError(0)
        }
        s.live.append((handle, length))
        var n = 2
        if s.live.count > 8 {
            let old = s.live.removeFirst().handle
            try self.emit(s, sink, .enter, .WSPDeregisterMemory, after: 500) { w in w.socket(sock); w.memHandle(old) }
            try self.emit(s, sink, .leave, .WSPDeregisterMemory, after: self.slowed(2500, .WSPDeregisterMemory)) { w in
                w.i32(0); w.wsaError(0)
            }
            n += 2
        }
        return n
    }
}

/// SplitMix64: a small, fast, seedable generator (deterministic synthetic traces).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { self.state = seed }
    public mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
