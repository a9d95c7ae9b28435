import CSanABI
import CSanReplay
import CSanSupport
import SanCore
import SanSwitch
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The live objects of one replayed endpoint, in raw memory indexed by the plan's slots: the
/// provider SOCKETs, memory handles, RDMA descriptors, WSAOVERLAPPED structures, events and
/// memory blocks that stand for the recorded capture ids. Unsafe code: this file owns all of it.
///
/// A slot is written by the thread whose call creates the object and read by any thread of the
/// endpoint: a value is stored, then its state word is published with release ordering; readers
/// load the state with acquire ordering (and wait, bounded, while it is still unset).
final class LiveEndpoint: @unchecked Sendable {
    let plan: EndpointPlan
    let provider: SanProvider
    let procs: WSPPROC_TABLE
    let ext: SanExtensionPointers

    static let unset: UInt32 = 0
    static let ready: UInt32 = 1
    static let failed: UInt32 = 2

    let socketValues: UnsafeMutablePointer<UInt>
    let socketState: UnsafeMutablePointer<UInt32>
    let handleValues: UnsafeMutablePointer<UInt>
    let handleState: UnsafeMutablePointer<UInt32>
    /// Descriptor blocks (``descriptorCapacity`` bytes each), their live lengths and states.
    let descriptorBytes: UnsafeMutableRawPointer
    let descriptorLength: UnsafeMutablePointer<UInt32>
    let descriptorState: UnsafeMutablePointer<UInt32>
    static let descriptorCapacity = 4096
    /// One WSAOVERLAPPED per recorded overlapped id (a slot is re-pointed if a structure must be
    /// abandoned to a provider that still owns it).
    let overlapped: UnsafeMutablePointer<UnsafeMutablePointer<WSAOVERLAPPED>>
    let blocks: UnsafeMutablePointer<UnsafeMutableRawPointer>
    let wsabuf: UnsafeMutablePointer<WSABUF>
    let wsabufex: UnsafeMutablePointer<WSABUFEX>
    /// Plan tables copied into raw memory for the per-call path.
    let arena: UnsafeMutablePointer<ArenaEntry>
    let ops: UnsafeMutablePointer<OpPlan>
    let waits: UnsafeMutablePointer<Int32>
    /// Per operation: 0 not started, 1 started, 2 observed, 3 did not start; and what was observed.
    let opState: UnsafeMutablePointer<UInt32>
    let opStatus: UnsafeMutablePointer<Int32>
    let opBytes: UnsafeMutablePointer<UInt32>
    /// The backend's RDMA descriptor size, learned from a size probe (0: unknown).
    var liveDescriptorSize: UInt32 = 0
    private let events = Mutex<[Int32: SanEvent]>([:])
    /// Addresses a listener was bound to with a port chosen here (backends without WSPGetSockName).
    private let boundAddresses = Mutex<[Int32: [UInt8]]>([:])
    /// Completion events of upcall-mode operations, one per replay thread.
    let threadEvents: [SanEvent]

    init(plan: EndpointPlan, provider: SanProvider) {
        self.plan = plan
        self.provider = provider
        self.procs = provider.procs
        self.ext = provider.extensions
        func words<T>(_ n: Int, _ v: T) -> UnsafeMutablePointer<T> {
            let p = UnsafeMutablePointer<T>.allocate(capacity: max(n, 1))
            p.initialize(repeating: v, count: max(n, 1))
            return p
        }
        self.socketValues = words(plan.socketCount, 0)
        self.socketState = words(plan.socketCount, Self.unset)
        self.handleValues = words(plan.handleCount, 0)
        self.handleState = words(plan.handleCount, Self.unset)
        let nd = max(plan.descriptors.count, 1)
        self.descriptorBytes = .allocate(byteCount: nd * Self.descriptorCapacity, alignment: 64)
        self.descriptorBytes.initializeMemory(as: UInt8.self, repeating: 0, count: nd * Self.descriptorCapacity)
        self.descriptorLength = words(nd, 0)
        self.descriptorState = words(nd, Self.unset)
        self.overlapped = .allocate(capacity: max(plan.overlappedCount, 1))
        for i in 0..<max(plan.overlappedCount, 1) {
            let ov = UnsafeMutablePointer<WSAOVERLAPPED>.allocate(capacity: 1)
            ov.initialize(to: WSAOVERLAPPED())
            (self.overlapped + i).initialize(to: ov)
        }
        self.blocks = .allocate(capacity: plan.blocks.count)
        for (i, b) in plan.blocks.enumerated() {
            let size = Int((b.size + 4095) & ~4095)
            let mem = UnsafeMutableRawPointer.allocate(byteCount: max(size, 4096), alignment: 4096)
            csan_replay_fill(mem.assumingMemoryBound(to: UInt8.self), UInt64(max(size, 4096)), b.seed, 0)
            (self.blocks + i).initialize(to: mem)
        }
        let na = max(plan.arena.count, 1)
        self.arena = words(na, ArenaEntry(block: 0, offset: 0, length: 0, handle: -1))
        if !plan.arena.isEmpty { self.arena.update(from: plan.arena, count: plan.arena.count) }
        self.wsabuf = .allocate(capacity: na)
        self.wsabufex = .allocate(capacity: na)
        for i in 0..<na {
            let e = self.arena[i]
            let p = (self.blocks[Int(e.block)] + Int(e.offset)).assumingMemoryBound(to: CChar.self)
            (self.wsabuf + i).initialize(to: WSABUF(len: e.length, buf: p))
            (self.wsabufex + i).initialize(to: WSABUFEX(len: e.length, buf: p, handle: nil))
        }
        let no = max(plan.ops.count, 1)
        self.ops = .allocate(capacity: no)
        if !plan.ops.isEmpty { self.ops.initialize(from: plan.ops, count: plan.ops.count) }
        self.waits = words(max(plan.waitList.count, 1), Int32(0))
        if !plan.waitList.isEmpty { self.waits.update(from: plan.waitList, count: plan.waitList.count) }
        self.opState = words(no, 0)
        self.opStatus = words(no, 0)
        self.opBytes = words(no, 0)
        self.threadEvents = plan.threads.map { _ in SanEvent() }
        for s in plan.orphanSockets { self.socketState[Int(s)] = Self.failed }
        for h in plan.orphanHandles { self.handleState[Int(h)] = Self.failed }
        for d in plan.orphanDescriptors { self.descriptorState[Int(d)] = Self.ready }
    }

    /// Tables go with the endpoint. Memory blocks and overlapped structures are never freed: a
    /// provider may still own an operation that was pending when the replay stopped (a trace cut
    /// short never closed its sockets), and it would write into freed memory.
    deinit {
        self.socketValues.deallocate()
        self.socketState.deallocate()
        self.handleValues.deallocate()
        self.handleState.deallocate()
        self.descriptorBytes.deallocate()
        self.descriptorLength.deallocate()
        self.descriptorState.deallocate()
        self.arena.deallocate()
        self.wsabuf.deallocate()
        self.wsabufex.deallocate()
        self.ops.deallocate()
        self.waits.deallocate()
        self.opState.deallocate()
        self.opStatus.deallocate()
        self.opBytes.deallocate()
    }

    /// Closes the events (once no thread uses the endpoint).
    func release() {
        for ev in self.threadEvents { ev.close() }
        self.events.withLock { m in for (_, e) in m { e.close() } }
    }

    // MARK: Slots

    @inline(__always)
    func state(_ words: UnsafeMutablePointer<UInt32>, _ slot: Int32) -> UInt32 { csan_replay_load_u32(words + Int(slot)) }

    @inline(__always)
    func publish(_ words: UnsafeMutablePointer<UInt32>, _ slot: Int32, _ v: UInt32) {
        csan_replay_store_u32(words + Int(slot), v)
    }

    func setSocket(_ slot: Int32, _ value: SOCKET?) {
        guard slot >= 0 else { return }
        if let value { self.socketValues[Int(slot)] = value }
        self.publish(self.socketState, slot, value == nil ? Self.failed : Self.ready)
    }

    func setHandle(_ slot: Int32, _ value: UInt?) {
        guard slot >= 0 else { return }
        if let value { self.handleValues[Int(slot)] = value }
        self.publish(self.handleState, slot, value == nil ? Self.failed : Self.ready)
    }

    func descriptor(_ slot: Int32) -> UnsafeMutableRawPointer {
        self.descriptorBytes + Int(slot) * Self.descriptorCapacity
    }

    func setDescriptor(_ slot: Int32, bytes: [UInt8]) {
        let n = min(bytes.count, Self.descriptorCapacity)
        bytes.withUnsafeBytes { self.descriptor(slot).copyMemory(from: $0.baseAddress!, byteCount: n) }
        self.descriptorLength[Int(slot)] = UInt32(n)
        self.publish(self.descriptorState, slot, Self.ready)
    }

    func descriptorArray(_ slot: Int32) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: self.descriptor(slot), count: Int(self.descriptorLength[Int(slot)])))
    }

    /// The live event of a recorded event id (created on first use).
    func event(_ slot: Int32) -> SanEvent? {
        guard slot >= 0 else { return nil }
        return self.events.withLock { m in
            if let e = m[slot] { return e }
            let e = SanEvent()
            m[slot] = e
            return e
        }
    }

    func setBound(_ slot: Int32, _ address: [UInt8]) { self.boundAddresses.withLock { $0[slot] = address } }
    func bound(_ slot: Int32) -> [UInt8]? { self.boundAddresses.withLock { $0[slot] } }

    /// Start of an arena entry's memory.
    @inline(__always)
    func memory(_ entry: Int) -> UnsafeMutablePointer<UInt8> {
        let e = self.arena[entry]
        return (self.blocks[Int(e.block)] + Int(e.offset)).assumingMemoryBound(to: UInt8.self)
    }

    /// Fills the WSABUFEX handles of `count` entries from the handle slots (they are only known
    /// live, after the registrations ran).
    @inline(__always)
    func patchHandles(_ start: Int32, _ count: Int32) {
        for i in Int(start)..<Int(start + count) {
            let h = self.arena[i].handle
            self.wsabufex[i].handle = h >= 0 ? UnsafeMutableRawPointer(bitPattern: self.handleValues[Int(h)]) : nil
        }
    }

    /// Gives up a structure a provider still owns (an operation that started live but not when
    /// recorded): the slot gets a fresh one, the old one is never freed.
    func abandonOverlapped(_ slot: Int32) {
        let ov = UnsafeMutablePointer<WSAOVERLAPPED>.allocate(capacity: 1)
        ov.initialize(to: WSAOVERLAPPED())
        self.overlapped[Int(slot)] = ov
    }
}
