import SanCore
import SanTraceFormat

/// Builds the index rows of a trace from its events, one segment at a time: the per-segment rows
/// (`segment_functions`, `segment_sockets`, `segment_threads`, the segment's time range, errors
/// and bytes) and the trace-wide tables (`sockets`, `registrations`, `descriptors`, `threads`,
/// `function_summary`, `size_summary`). The writer feeds it every event it appends and commits
/// its rows with the segment; `verify --repair` feeds it decoded segments to rebuild an index.
///
/// Cheap per event: fixed arrays and a one-entry cache for sockets and threads; only the rare
/// socket and registration calls allocate.
final class IndexBuilder {
    struct FunctionCount: Equatable {
        var events: UInt64 = 0
        var errors: UInt64 = 0
        var bytes: UInt64 = 0
    }

    struct ThreadSpan: Equatable {
        var firstThreadSeq: UInt64
        var lastThreadSeq: UInt64
        var firstSeq: UInt64
        var lastSeq: UInt64
        var events: UInt64
    }

    /// Row changes to the trace-wide tables, applied in order at commit.
    enum RowOp {
        case socketCreated(id: UInt64, seq: UInt64, by: String, af: Int64?, type: Int64?, proto: Int64?, listener: UInt64?,
                           peer: [UInt8]?)
        case socketLocal(id: UInt64, addr: [UInt8])
        case socketPeer(id: UInt64, addr: [UInt8])
        case socketClosed(id: UInt64, seq: UInt64)
        case registered(kind: String, id: UInt64, socket: UInt64, registration: UInt64, offset: UInt64, length: UInt64,
                        access: UInt64, seq: UInt64, tsc: UInt64)
        case deregistered(kind: String, id: UInt64, seq: UInt64, tsc: UInt64)
        /// `seq` nil: a descriptor received from the peer (not registered by this process).
        case descriptor(id: UInt64, socket: UInt64, seq: UInt64?, bytes: [UInt8])
    }

    /// What an ENTER of a socket or registration call said, kept until its LEAVE.
    struct PendingEnter {
        var function: FunctionID
        var values: [UInt64]
        var address: [UInt8]?
    }

    /// Functions whose ENTER/LEAVE pairs create or end sockets and registrations (bit = id).
    static let objectFunctions: UInt64 = [FunctionID.WSPSocket, .WSPAccept, .WSPBind, .WSPConnect, .WSPCloseSocket,
                                          .WSPGetSockName, .WSPGetPeerName, .WSPRegisterMemory, .WSPDeregisterMemory,
                                          .WSPRegisterRdmaMemory, .WSPDeregisterRdmaMemory]
        .reduce(0) { $0 | (1 << UInt64($1.rawValue)) }

    static let functionSlots = 129  // 0…127, 128 = no function (LOOKUP)
    /// `objectFunctions`, held here: a static costs a once-check per event.
    private let objectFunctionMask = IndexBuilder.objectFunctions
    let roles = ShapeRoles.shared

    // Per segment. Counts live in raw memory: the per-event increments must not pay for
    // copy-on-write checks.
    let counts: UnsafeMutablePointer<FunctionCount> = {
        let p = UnsafeMutablePointer<FunctionCount>.allocate(capacity: 8 * IndexBuilder.functionSlots)
        p.initialize(repeating: FunctionCount(), count: 8 * IndexBuilder.functionSlots)
        return p
    }()
    private(set) var touched: [Int] = []
    private(set) var sockets: [UInt64: UInt64] = [:]
    private var cachedSocket: UInt64 = 0
    private var cachedSocketCount: UInt64 = 0
    private var spans: [UInt32: ThreadSpan] = [:]
    /// The current thread's span, folded into `spans` when another thread's event comes.
    private var currentThread: UInt32 = 0
    private var currentSpan = ThreadSpan(firstThreadSeq: 0, lastThreadSeq: 0, firstSeq: 0, lastSeq: 0, events: 0)
    private(set) var minTSC = UInt64.max
    private(set) var maxTSC: UInt64 = 0
    private(set) var errors: UInt64 = 0
    private(set) var bytes: UInt64 = 0
    private(set) var events: UInt64 = 0
    private(set) var ops: [RowOp] = []
    private(set) var sizes: [Int: FunctionCount] = [:]  // function * 64 + size class → calls (events), bytes
    private var cachedSize = -1
    private var cachedSizeCount = FunctionCount()

    private func foldSize() {
        guard self.cachedSize >= 0, self.cachedSizeCount.events > 0 else { return }
        self.sizes[self.cachedSize, default: FunctionCount()].events &+= self.cachedSizeCount.events
        self.sizes[self.cachedSize, default: FunctionCount()].bytes &+= self.cachedSizeCount.bytes
        self.cachedSizeCount = FunctionCount()
    }

    // Across segments.
    private var pending: [UInt32: PendingEnter] = [:]

    /// Counts one event. (`inout` only so the record is passed by address: the writer's record
    /// lives in a class property, and passing it by value copied its ~200 bytes per event.)
    @inline(__always)
    func observe(_ r: inout EventRecord) {
        let roles = self.roles.roles(r)
        let subject = r.subjectFunction(roles)
        let fslot = subject == .none ? 128 : Int(subject.rawValue & 0x7F)
        let slot = Int(r.kind.rawValue) * Self.functionSlots + fslot
        if self.counts[slot].events == 0 { self.touched.append(slot) }
        self.counts[slot].events &+= 1
        if r.isError(roles) {
            self.counts[slot].errors &+= 1
            self.errors &+= 1
        }
        let moved = r.movedBytes(roles)
        if moved != 0 {
            self.counts[slot].bytes &+= moved
            self.bytes &+= moved
        }
        if roles.socket >= 0 {
            let s = r.value(Int(roles.socket))
            if s != 0 { self.touchSocket(s) }
        }
        if r.tsc < self.minTSC { self.minTSC = r.tsc }
        if r.tsc > self.maxTSC { self.maxTSC = r.tsc }
        self.touchThread(r)
        self.events &+= 1
        if r.kind == .enter, roles.startsOperation, roles.buffers >= 0, let t = r.bufferTotals(Int(roles.buffers)) {
            let key = Int(r.function.rawValue) * 64 + Self.sizeClass(t.bytes)
            // A one-entry cache in front of the table: a steady loop repeats one (function, size).
            if key != self.cachedSize {
                self.foldSize()
                self.cachedSize = key
            }
            self.cachedSizeCount.events &+= 1
            self.cachedSizeCount.bytes &+= t.bytes
        }
        if r.function.rawValue < 64, self.objectFunctionMask & (1 << UInt64(r.function.rawValue)) != 0 {
            self.observeObjects(r)
        }
    }

    /// Size class of a byte count: its bit length (0 for 0; k for 2^(k-1) ≤ n < 2^k).
    static func sizeClass(_ n: UInt64) -> Int { 64 - n.leadingZeroBitCount }

    @inline(__always)
    private func touchSocket(_ s: UInt64) {
        if s == self.cachedSocket {
            self.cachedSocketCount &+= 1
            return
        }
        if self.cachedSocketCount > 0 { self.sockets[self.cachedSocket, default: 0] &+= self.cachedSocketCount }
        self.cachedSocket = s
        self.cachedSocketCount = 1
    }

    @inline(__always)
    private func touchThread(_ r: EventRecord) {
        if r.thread == self.currentThread && self.currentSpan.events > 0 {
            self.currentSpan.lastThreadSeq = r.threadSeq
            self.currentSpan.lastSeq = r.sequence
            self.currentSpan.events &+= 1
            return
        }
        self.foldThread()
        self.currentThread = r.thread
        if var span = self.spans.removeValue(forKey: r.thread) {
            span.lastThreadSeq = r.threadSeq
            span.lastSeq = r.sequence
            span.events &+= 1
            self.currentSpan = span
        } else {
            self.currentSpan = ThreadSpan(firstThreadSeq: r.threadSeq, lastThreadSeq: r.threadSeq,
                                          firstSeq: r.sequence, lastSeq: r.sequence, events: 1)
        }
    }

    private func foldThread() {
        if self.currentSpan.events > 0 { self.spans[self.currentThread] = self.currentSpan }
        self.currentSpan.events = 0
    }

    /// Per thread of the segment: sequence span and event count.
    var threads: [UInt32: ThreadSpan] {
        var all = self.spans
        if self.currentSpan.events > 0 { all[self.currentThread] = self.currentSpan }
        return all
    }

    deinit {
        self.counts.deallocate()
    }

    /// Sockets and registrations: remember the ENTER's arguments, act on the LEAVE's outcome.
    private func observeObjects(_ r: EventRecord) {
        let f = r.function
        switch r.kind {
        case .enter:
            switch f {
            case .WSPSocket, .WSPAccept, .WSPBind, .WSPConnect, .WSPCloseSocket, .WSPGetSockName, .WSPGetPeerName,
                 .WSPRegisterMemory, .WSPDeregisterMemory, .WSPRegisterRdmaMemory, .WSPDeregisterRdmaMemory:
                var values = [UInt64](repeating: 0, count: r.fieldCount)
                var address: [UInt8]? = nil
                for i in 0..<r.fieldCount {
                    switch r.type(i) {
                    case .sockaddr?: address = r.byteArray(i)
                    case .address?:
                        let a = r.address(i)!
                        values[i] = a.registration
                        address = withUnsafeBytes(of: a.offset.littleEndian) { Array($0) }
                    default: values[i] = r.value(i)
                    }
                }
                self.pending[r.thread] = PendingEnter(function: f, values: values, address: address)
            default: break
            }
        case .leave:
            guard let p = self.pending[r.thread], p.function == f else { return }
            self.pending[r.thread] = nil
            self.leave(r, p)
        default: break
        }
    }

    private func leave(_ r: EventRecord, _ p: PendingEnter) {
        func enter(_ i: Int) -> UInt64 { i < p.values.count ? p.values[i] : 0 }
        func offset() -> UInt64 {
            guard let a = p.address, a.count == 8 else { return 0 }
            return a.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        }
        switch r.function {
        case .WSPSocket:
            let s = r.value(FieldIndex.WSPSocket.leave.ret)
            guard s != 0 else { return }
            self.ops.append(.socketCreated(id: s, seq: r.sequence, by: "WSPSocket",
                                           af: Int64(Int32(truncatingIfNeeded: enter(FieldIndex.WSPSocket.enter.af))),
                                           type: Int64(Int32(truncatingIfNeeded: enter(FieldIndex.WSPSocket.enter.type))),
                                           proto: Int64(Int32(truncatingIfNeeded: enter(FieldIndex.WSPSocket.enter.protocol))),
                                           listener: nil, peer: nil))
        case .WSPAccept:
            let s = r.value(FieldIndex.WSPAccept.leave.ret)
            guard s != 0 else { return }
            self.ops.append(.socketCreated(id: s, seq: r.sequence, by: "WSPAccept", af: nil, type: nil, proto: nil,
                                           listener: enter(FieldIndex.WSPAccept.enter.s),
                                           peer: r.byteArray(FieldIndex.WSPAccept.leave.peer)))
        case .WSPBind:
            guard r.signed(FieldIndex.WSPBind.leave.ret) == 0, let a = p.address else { return }
            self.ops.append(.socketLocal(id: enter(FieldIndex.WSPBind.enter.s), addr: a))
        case .WSPConnect:
            // A nonblocking connect answers WSAEWOULDBLOCK and finishes later (FD_CONNECT): the
            // socket is still connecting to that peer.
            let connecting = r.signed(FieldIndex.WSPConnect.leave.ret) == 0
                || r.signed(FieldIndex.WSPConnect.leave.err) == Int64(WSAError.wouldBlock.rawValue)
            guard connecting, let a = p.address else { return }
            self.ops.append(.socketPeer(id: enter(FieldIndex.WSPConnect.enter.s), addr: a))
        case .WSPGetSockName:
            guard r.signed(FieldIndex.WSPGetSockName.leave.ret) == 0,
                  let a = r.byteArray(FieldIndex.WSPGetSockName.leave.addr), !a.isEmpty else { return }
            self.ops.append(.socketLocal(id: enter(FieldIndex.WSPGetSockName.enter.s), addr: a))
        case .WSPGetPeerName:
            guard r.signed(FieldIndex.WSPGetPeerName.leave.ret) == 0,
                  let a = r.byteArray(FieldIndex.WSPGetPeerName.leave.addr), !a.isEmpty else { return }
            self.ops.append(.socketPeer(id: enter(FieldIndex.WSPGetPeerName.enter.s), addr: a))
        case .WSPCloseSocket:
            guard r.signed(FieldIndex.WSPCloseSocket.leave.ret) == 0 else { return }
            self.ops.append(.socketClosed(id: enter(FieldIndex.WSPCloseSocket.enter.s), seq: r.sequence))
        case .WSPRegisterMemory:
            let h = r.value(FieldIndex.WSPRegisterMemory.leave.ret)
            guard h != 0 else { return }
            typealias E = FieldIndex.WSPRegisterMemory.enter
            self.ops.append(.registered(kind: "memory", id: h, socket: enter(E.s), registration: enter(E.buffer),
                                        offset: offset(), length: enter(E.length), access: enter(E.flags),
                                        seq: r.sequence, tsc: r.tsc))
        case .WSPDeregisterMemory:
            guard r.signed(FieldIndex.WSPDeregisterMemory.leave.ret) == 0 else { return }
            self.ops.append(.deregistered(kind: "memory", id: enter(FieldIndex.WSPDeregisterMemory.enter.handle),
                                          seq: r.sequence, tsc: r.tsc))
        case .WSPRegisterRdmaMemory:
            typealias L = FieldIndex.WSPRegisterRdmaMemory.leave
            typealias E = FieldIndex.WSPRegisterRdmaMemory.enter
            guard r.signed(L.ret) == 0 else { return }
            let d = r.value(L.descriptor)
            self.ops.append(.registered(kind: "rdma", id: d, socket: enter(E.s), registration: enter(E.buffer),
                                        offset: offset(), length: enter(E.length), access: enter(E.flags),
                                        seq: r.sequence, tsc: r.tsc))
            self.ops.append(.descriptor(id: d, socket: enter(E.s), seq: r.sequence,
                                        bytes: r.byteArray(L.descriptorBytes) ?? []))
        case .WSPDeregisterRdmaMemory:
            guard r.signed(FieldIndex.WSPDeregisterRdmaMemory.leave.ret) == 0 else { return }
            self.ops.append(.deregistered(kind: "rdma", id: enter(FieldIndex.WSPDeregisterRdmaMemory.enter.descriptor),
                                          seq: r.sequence, tsc: r.tsc))
        default: break
        }
    }

    /// Adds a row change that does not come from an event (the writer's remote descriptors).
    func note(_ op: RowOp) { self.ops.append(op) }

    /// Finishes the segment's socket and size counts (folds the one-entry caches in).
    func settle() {
        self.foldSize()
        if self.cachedSocketCount > 0 {
            self.sockets[self.cachedSocket, default: 0] &+= self.cachedSocketCount
            self.cachedSocketCount = 0
            self.cachedSocket = 0
        }
    }

    /// Per-segment function rows: (function or -1, kind, count).
    func functionRows() -> [(function: Int64, kind: Int64, count: FunctionCount)] {
        self.touched.sorted().map { slot in
            let kind = slot / Self.functionSlots
            let fn = slot % Self.functionSlots
            return (fn == 128 ? -1 : Int64(fn), Int64(kind), self.counts[slot])
        }
    }

    /// Forgets the segment (keeps pending ENTERs, which may be answered in the next one).
    func resetSegment() {
        for slot in self.touched { self.counts[slot] = FunctionCount() }
        self.touched.removeAll(keepingCapacity: true)
        self.sockets.removeAll(keepingCapacity: true)
        self.cachedSocket = 0
        self.cachedSocketCount = 0
        self.spans.removeAll(keepingCapacity: true)
        self.currentSpan.events = 0
        self.currentThread = 0
        self.minTSC = .max
        self.maxTSC = 0
        self.errors = 0
        self.bytes = 0
        self.events = 0
        self.ops.removeAll(keepingCapacity: true)
        self.sizes.removeAll(keepingCapacity: true)
        self.cachedSize = -1
        self.cachedSizeCount = FunctionCount()
    }

    /// Writes the segment's index rows and the trace-wide row changes (inside the caller's
    /// transaction).
    func writeRows(segment: Int64, to db: SQLiteConnection) throws {
        self.settle()
        let sf = try db.cached("""
            INSERT INTO segment_functions (function, segment, kind, events, errors, bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
            """)
        let fs = try db.cached("""
            INSERT INTO function_summary (function, kind, events, errors, bytes) VALUES (?1, ?2, ?3, ?4, ?5)
            ON CONFLICT (function, kind) DO UPDATE SET events = events + excluded.events,
            errors = errors + excluded.errors, bytes = bytes + excluded.bytes
            """)
        for row in self.functionRows() {
            sf.reset()
            sf.bind(1, row.function); sf.bind(2, segment); sf.bind(3, row.kind)
            sf.bind(4, row.count.events); sf.bind(5, row.count.errors); sf.bind(6, row.count.bytes)
            try sf.run()
            fs.reset()
            fs.bind(1, row.function); fs.bind(2, row.kind)
            fs.bind(3, row.count.events); fs.bind(4, row.count.errors); fs.bind(5, row.count.bytes)
            try fs.run()
        }
        let ss = try db.cached("INSERT INTO segment_sockets (socket, segment, events) VALUES (?1, ?2, ?3)")
        for (s, n) in self.sockets.sorted(by: { $0.key < $1.key }) {
            ss.reset()
            ss.bind(1, s); ss.bind(2, segment); ss.bind(3, n)
            try ss.run()
        }
        let st = try db.cached("""
            INSERT INTO segment_threads (thread, segment, first_thread_seq, last_thread_seq, events)
            VALUES (?1, ?2, ?3, ?4, ?5)
            """)
        let th = try db.cached("""
            INSERT INTO threads (id, first_seq, last_seq, events) VALUES (?1, ?2, ?3, ?4)
            ON CONFLICT (id) DO UPDATE SET first_seq = coalesce(first_seq, excluded.first_seq),
            last_seq = excluded.last_seq, events = events + excluded.events
            """)
        for (t, span) in self.threads.sorted(by: { $0.key < $1.key }) {
            st.reset()
            st.bind(1, Int64(t)); st.bind(2, segment); st.bind(3, span.firstThreadSeq); st.bind(4, span.lastThreadSeq)
            st.bind(5, span.events)
            try st.run()
            th.reset()
            th.bind(1, Int64(t)); th.bind(2, span.firstSeq); th.bind(3, span.lastSeq); th.bind(4, span.events)
            try th.run()
        }
        let sz = try db.cached("""
            INSERT INTO size_summary (function, size_class, calls, bytes) VALUES (?1, ?2, ?3, ?4)
            ON CONFLICT (function, size_class) DO UPDATE SET calls = calls + excluded.calls, bytes = bytes + excluded.bytes
            """)
        for (key, c) in self.sizes.sorted(by: { $0.key < $1.key }) {
            sz.reset()
            sz.bind(1, key / 64); sz.bind(2, key % 64); sz.bind(3, c.events); sz.bind(4, c.bytes)
            try sz.run()
        }
        for op in self.ops { try Self.apply(op, to: db) }
    }

    static func apply(_ op: RowOp, to db: SQLiteConnection) throws {
        switch op {
        case .socketCreated(let id, let seq, let by, let af, let type, let proto, let listener, let peer):
            let s = try db.cached("""
                INSERT OR REPLACE INTO sockets (id, created_seq, created_by, af, type, protocol, listener, peer_addr, peer)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                """)
            s.bind(1, id); s.bind(2, seq); s.bind(3, by); s.bind(4, af); s.bind(5, type); s.bind(6, proto)
            s.bind(7, listener.map { Int64(bitPattern: $0) })
            if let peer {
                s.bind(8, blob: peer)
                s.bind(9, SockaddrText.format(peer))
            }
            try s.run()
        case .socketLocal(let id, let addr):
            let s = try db.cached("""
                INSERT INTO sockets (id, local_addr, local) VALUES (?1, ?2, ?3)
                ON CONFLICT (id) DO UPDATE SET local_addr = excluded.local_addr, local = excluded.local
                """)
            s.bind(1, id); s.bind(2, blob: addr); s.bind(3, SockaddrText.format(addr))
            try s.run()
        case .socketPeer(let id, let addr):
            let s = try db.cached("""
                INSERT INTO sockets (id, peer_addr, peer) VALUES (?1, ?2, ?3)
                ON CONFLICT (id) DO UPDATE SET peer_addr = excluded.peer_addr, peer = excluded.peer
                """)
            s.bind(1, id); s.bind(2, blob: addr); s.bind(3, SockaddrText.format(addr))
            try s.run()
        case .socketClosed(let id, let seq):
            let s = try db.cached("""
                INSERT INTO sockets (id, closed_seq) VALUES (?1, ?2)
                ON CONFLICT (id) DO UPDATE SET closed_seq = excluded.closed_seq
                """)
            s.bind(1, id); s.bind(2, seq)
            try s.run()
        case .registered(let kind, let id, let socket, let reg, let off, let len, let access, let seq, let tsc):
            let s = try db.cached("""
                INSERT OR REPLACE INTO registrations (kind, id, socket, address_registration, address_offset, length,
                access, registered_seq, registered_tsc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                """)
            s.bind(1, kind); s.bind(2, id); s.bind(3, socket); s.bind(4, reg); s.bind(5, off); s.bind(6, len)
            s.bind(7, access); s.bind(8, seq); s.bind(9, tsc)
            try s.run()
        case .deregistered(let kind, let id, let seq, let tsc):
            let s = try db.cached("""
                INSERT INTO registrations (kind, id, deregistered_seq, deregistered_tsc) VALUES (?1, ?2, ?3, ?4)
                ON CONFLICT (kind, id) DO UPDATE SET deregistered_seq = excluded.deregistered_seq,
                deregistered_tsc = excluded.deregistered_tsc
                """)
            s.bind(1, kind); s.bind(2, id); s.bind(3, seq); s.bind(4, tsc)
            try s.run()
        case .descriptor(let id, let socket, let seq, let bytes):
            let s = try db.cached("INSERT OR REPLACE INTO descriptors (id, socket, registered_seq, bytes) VALUES (?1, ?2, ?3, ?4)")
            s.bind(1, id); s.bind(2, socket); s.bind(3, seq.map { Int64(bitPattern: $0) }); s.bind(4, blob: bytes)
            try s.run()
        }
    }
}
