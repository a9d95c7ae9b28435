import CSanABI
import CSanSupport
import CSanTCP
import Glibc
import SanCore
import SanProviderKit
import Synchronization

/// One established connection: the receive side (Receive.swift), the transmit side
/// (Transmit.swift), the send queue whose completions are reported in posting order
/// (SendQueue.swift), the registrations made on it, and its end (this file).
///
/// Concurrency, in one paragraph: exactly one thread at a time reads the socket — the *receive
/// owner* (`rxOwner`), either the progress thread or a thread waiting in WSPGetOverlappedResult —
/// and only the owner touches `machine`. Writes happen under the `tx` lock from whichever thread
/// gets there (the caller of WSPSend, the progress thread on EPOLLOUT, a receive owner queueing a
/// read response). Queues shared with the application's calls live in `state` (receives) and
/// `sendQueue` (sends, writes, reads; taken inside `tx` when both are needed). Completions are
/// collected under those locks and reported after every lock and the receive ownership are
/// released, so an application may call back into the provider from its completion upcall.
/// The epoll registration is EPOLLONESHOT and re-armed by ``rearm()`` from atomics only.
final class Connection: PollTarget {
    struct State: Sendable {
        var terminal: WSAError?
        /// The socket was shut down (and the peer told why, if it could be).
        var shutDown = false
        var closedLocally = false
        var posted = FIFO<RecvOp>()
        /// The receive the machine is filling right now (taken off `posted`).
        var filling: RecvOp?
        var early = FIFO<EarlyMessage>()
        var earlyBytes = 0
        /// The send-queue entry the peer refused (its ABORT named it): it fails with
        /// WSAECONNABORTED, the other pending operations are flushed (WSA_OPERATION_ABORTED).
        var culprit: UInt64?
        /// The peer ended the stream while the receive side was stalled on the early-message
        /// budget: what is left is bounded by the socket buffer, so it is read regardless.
        var budgetLifted = false
    }

    struct ArmState: Sendable {
        var armed: UInt32 = 0
        var removed = false
    }

    let provider: TCPProvider
    let context: SocketContext
    let fd: OwnedFD
    let token: UInt64
    /// Both handshake nonces xor-ed: what every descriptor of this connection carries.
    let id: Key128
    /// The largest WSPSend: the smaller of both sides' SO_MAX_MSG_SIZE (exchanged at handshake).
    let sendLimit: UInt32
    let registrations = RegistrationTable()
    let regions = RdmaRegionTable()
    let state = Mutex(State())
    let tx = Mutex(TxState())
    let sendQueue = Mutex(SendQueue())
    let arm = Mutex(ArmState())
    let machine: ReceiveMachine

    let rxOwner = Atomic<Bool>(false)
    /// A waiter used the receive side lately and is likely to come back: the progress thread
    /// does not watch the socket meanwhile (no epoll_ctl per message) and re-arms it once the
    /// lease (`TCPConfig.leaseNanoseconds`) ran out with nobody owning the receive side.
    let rxLeased = Atomic<Bool>(false)
    /// The receive owner is a waiter, which also writes queued frames when the socket has room:
    /// the progress thread need not wake for EPOLLOUT meanwhile.
    let waiterOwns = Atomic<Bool>(false)
    /// When a waiter last let go of the receive side (CLOCK_MONOTONIC ns; 0: never).
    let lastWaiter = Atomic<UInt64>(0)
    /// The current waiter came back within a lease's time of the last one letting go: the
    /// application waits again right away (a ping-pong), so a lease pays off when it lets go.
    let waiterReturnedQuickly = Atomic<Bool>(false)
    let rxKick = Atomic<Bool>(false)
    let rxStalled = Atomic<Bool>(false)
    /// Set by the receive owner once it has failed every receive-side operation after the end.
    let rxFinished = Atomic<Bool>(false)
    let txPending = Atomic<Bool>(false)
    /// The terminal WSA error once the connection ended (0 while it is up).
    let terminalCode = Atomic<Int32>(0)
    let readsIssued = Atomic<UInt64>(0)
    let readsCompleted = Atomic<UInt64>(0)
    /// RDMA writes from the peer placed in our memory so far (receive owner adds, the transmit
    /// side announces it in ACK frames).
    let placedWrites = Atomic<UInt64>(0)

    init(provider: TCPProvider, context: SocketContext, fd: OwnedFD, id: Key128, peerMaxMessageSize: UInt32) {
        self.provider = provider
        self.sendLimit = min(provider.config.maxMessageSize, peerMaxMessageSize)
        self.context = context
        self.fd = fd
        self.id = id
        self.token = provider.progress.newToken()
        self.machine = ReceiveMachine(capacity: provider.config.stagingBytes)
    }

    var config: TCPConfig { self.provider.config }
    var isDead: Bool { self.terminalCode.load(ordering: .acquiring) != 0 }
    var terminalError: WSAError? {
        let code = self.terminalCode.load(ordering: .acquiring)
        return code == 0 ? nil : WSAError(code)
    }

    /// Starts watching the socket (the connection is set up and its socket published). From
    /// here the socket is in blocking mode: every call passes MSG_DONTWAIT except a waiter's
    /// read, which sleeps in the kernel until data arrives (or the 20 ms receive timeout).
    func activate() -> Bool {
        guard Sys.setBlocking(self.fd.raw, receiveTimeoutMilliseconds: 20) else { return false }
        let events = CSAN_TCP_EPOLLIN | CSAN_TCP_EPOLLRDHUP | CSAN_TCP_EPOLLONESHOT
        self.arm.withLock { $0.armed = CSAN_TCP_EPOLLIN | CSAN_TCP_EPOLLRDHUP }
        return self.provider.progress.register(self.fd.raw, events: events, token: self.token, target: self) == nil
    }

    // MARK: Progress thread

    func handle(events: UInt32) {
        self.arm.withLock { $0.armed = 0 }
        if events & CSAN_TCP_EPOLLOUT != 0 { self.flush() }
        if events & (CSAN_TCP_EPOLLIN | CSAN_TCP_EPOLLERR | CSAN_TCP_EPOLLHUP | CSAN_TCP_EPOLLRDHUP) != 0 {
            self.drive(budget: 16)
        }
        self.rearm()
    }

    /// Arms the oneshot registration for what needs watching now: input unless someone owns the
    /// receive side (only the peer's end while it is stalled on a full early-message buffer);
    /// output while the transmit queue waits for room. Every change of those atomics is followed
    /// by a call here, and the mask is computed under the arm lock, so the last call always wins
    /// with current state.
    func rearm() {
        self.arm.withLock { a in
            guard !a.removed else { return }
            var want: UInt32 = 0
            if !self.isDead {
                if !self.rxOwner.load(ordering: .acquiring) && !self.rxLeased.load(ordering: .acquiring) {
                    want |= self.rxStalled.load(ordering: .acquiring) ? CSAN_TCP_EPOLLRDHUP
                        : CSAN_TCP_EPOLLIN | CSAN_TCP_EPOLLRDHUP
                }
                if self.txPending.load(ordering: .acquiring) && !self.waiterOwns.load(ordering: .acquiring) {
                    want |= CSAN_TCP_EPOLLOUT
                }
            }
            guard want != a.armed else { return }
            self.provider.progress.modify(self.fd.raw, events: want | CSAN_TCP_EPOLLONESHOT, token: self.token)
            a.armed = want
        }
    }

    // MARK: Receive ownership

    func tryAcquireReceive() -> Bool {
        self.rxOwner.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }

    func releaseReceive() {
        self.rxOwner.store(false, ordering: .releasing)
        self.rearm()
    }

    /// A waiter took the receive side: notes whether it came back quickly (while the last one's
    /// lease still held, or within a lease's time of it letting go).
    func waiterArrived() {
        let quick: Bool
        if self.rxLeased.load(ordering: .relaxed) {
            quick = true  // the common case of a ping-pong, without reading the clock
        } else {
            let last = self.lastWaiter.load(ordering: .relaxed)
            quick = last != 0 && csan_monotonic_ns() &- last < self.config.leaseNanoseconds
        }
        self.waiterReturnedQuickly.store(quick, ordering: .relaxed)
    }

    /// A waiter gives the receive side back, keeping a lease on it (see `rxLeased`) when it came
    /// back quickly last time: an application that waits again at once keeps the lease, one that
    /// goes away for longer than a lease (and lets the peer's requests be served meanwhile by the
    /// progress thread) does not hold them up.
    func releaseByWaiter() {
        self.waiterOwns.store(false, ordering: .releasing)
        self.lastWaiter.store(csan_monotonic_ns(), ordering: .relaxed)
        if self.waiterReturnedQuickly.load(ordering: .relaxed) {
            if !self.rxLeased.exchange(true, ordering: .acquiringAndReleasing) { self.provider.progress.lease(self) }
        } else {
            self.rxLeased.store(false, ordering: .releasing)
        }
        self.releaseReceive()
    }

    /// Progress thread: ends a lease nobody renewed in time, so the progress thread watches the
    /// socket again. Nil when the lease ended, else when it will end if not renewed.
    func expireLease(now: UInt64) -> UInt64? {
        let end = self.lastWaiter.load(ordering: .relaxed) &+ self.config.leaseNanoseconds
        guard self.rxLeased.load(ordering: .acquiring) else { return nil }  // given up by its waiter
        if self.rxOwner.load(ordering: .acquiring) { return now &+ self.config.leaseNanoseconds }
        guard now >= end || self.isDead else { return end }
        self.rxLeased.store(false, ordering: .releasing)
        self.rearm()
        return nil
    }

    /// Runs the receive machine without blocking if no one else is, and again for every kick
    /// that arrived meanwhile (a kick is a request from a thread that could not get ownership).
    func drive(budget: Int) {
        repeat {
            self.rxKick.store(false, ordering: .sequentiallyConsistent)
            guard self.tryAcquireReceive() else { return }
            var effects = ReceiveEffects()
            _ = self.receive(budget: budget, &effects)
            self.releaseReceive()
            self.apply(effects)
        } while self.rxKick.load(ordering: .sequentiallyConsistent)
    }

    /// Asks for a receive pass: by this thread if the receive side is free, else by its owner.
    func kick(budget: Int = 16) {
        self.rxKick.store(true, ordering: .sequentiallyConsistent)
        self.drive(budget: budget)
    }

    /// What a receive pass left to do, once the receive side is released: a queued read
    /// response goes out first (the peer waits for it), then the completions are reported, then
    /// the ACK of the writes placed (unless it went with the response).
    func apply(_ effects: ReceiveEffects) {
        if let failure = effects.txFailure { self.afterFlush([], failure) }
        if effects.flush { self.flush() }
        self.deliver(effects.completions)
        if effects.ackDue && !effects.flush { self.flush() }
    }

    // MARK: Reporting

    /// Reports finished operations (every lock released). Each was counted into the upcall gate
    /// when it was taken off a queue; leaving the gate may close the switch's handle.
    func deliver(_ completions: [Completion]) {
        for c in completions {
            for seg in c.op.segments where seg.handle != 0 { self.registrations.pin(seg.handle, -1) }
            if let ov = UnsafeMutablePointer<WSAOVERLAPPED>(bitPattern: c.op.overlapped) {
                self.provider.completer.complete(ov, switchSocket: self.context.switchSocket,
                                                 upcalls: self.context.upcalls, error: c.error, bytes: c.bytes)
            }
            self.context.leaveGate()
        }
    }

    // MARK: The end

    /// Ends the connection: `error` is what later calls fail with; marks it dead, drops the
    /// transmit queue, optionally tells the peer why (ABORT at a frame boundary, naming the frame
    /// refused, or an orderly CLOSE — after an ACK of what was placed), shuts the socket down and
    /// has the receive owner fail every pending operation (``finishReceiveSide(_:)``). Safe to
    /// call more than once and from any thread that holds no lock.
    func terminate(_ error: WSAError, abort reason: WireError? = nil, refused: RefusedFrame? = nil,
                   orderly: Bool = false) {
        self.setTerminal(error)
        let first = self.state.withLock { s -> Bool in
            defer { s.shutDown = true }
            return !s.shutDown
        }
        self.tx.withLock { t in
            if first && !t.ended {
                if let reason { self.writeControl(.abort(reason: reason.rawValue, refused: refused), &t) }
                if orderly { self.writeControl(.close, &t) }
            }
            t.ended = true
            t.dead = true  // the queued frames are failed by the receive owner (finishReceiveSide)
        }
        self.txPending.store(false, ordering: .releasing)
        if first { Sys.shutdown(self.fd.raw) }
        self.kick()
    }

    /// Records the error every pending and later operation fails with (the first one wins).
    func setTerminal(_ error: WSAError) {
        let first = self.state.withLock { s -> Bool in
            guard s.terminal == nil else { return false }
            s.terminal = error
            return true
        }
        if first { self.terminalCode.store(error.rawValue, ordering: .releasing) }
    }

    /// The end, run by the receive owner (so no read response is landing in a read's buffers):
    /// stops the transmit side (no byte of a write's source is read after this), then fails the
    /// posted receives, the one being filled and the whole send queue in posting order, and drops
    /// early messages after a local close. An aborted connection (WSAECONNABORTED) flushes its
    /// pending operations with WSA_OPERATION_ABORTED, except the one the peer refused, which
    /// fails with WSAECONNABORTED — the verbs mapping of a remote access error (reference §5.3).
    func finishReceiveSide(_ effects: inout ReceiveEffects) {
        guard !self.machine.dead else { return }
        self.machine.dead = true
        let terminal = self.terminalError ?? .connectionReset
        let error: WSAError = terminal == .connectionAborted ? .operationAborted : terminal
        let sends = self.tx.withLock { self.dropTransmit(&$0) }
        let (receives, culprit) = self.state.withLock { s -> ([PendingOp], UInt64?) in
            var ops: [PendingOp] = []
            if let f = s.filling { ops.append(f.op) }
            s.filling = nil
            ops += s.posted.drain().map(\.op)
            if s.closedLocally {
                _ = s.early.drain()
                s.earlyBytes = 0
            }
            return (ops, s.culprit)
        }
        // Receives first, then the send queue in posting order: the sends that had no entry were
        // posted before every entry there is.
        for _ in receives + sends { self.context.gate.enter() }
        effects.completions += (receives + sends).map { Completion(op: $0, error: error, bytes: 0) }
        self.sendQueue.withLock {
            $0.takeAll(error: error, culprit: culprit, into: &effects.completions, gate: self.context.gate)
        }
        self.rxFinished.store(true, ordering: .releasing)
    }

    /// WSPCloseSocket on a connected socket: an orderly CLOSE to the peer when the stream is at a
    /// frame boundary, every pending operation completed with WSA_OPERATION_ABORTED, every
    /// registration dropped and every region revoked; WPUCloseSocketHandle comes last, from this
    /// thread or from whichever completion upcall finishes after it.
    func close() {
        self.context.gate.beginClose()
        self.state.withLock { $0.closedLocally = true }
        self.terminate(.operationAborted, orderly: true)
        // The receive owner fails the receive side; wait until it has (it is never long: the
        // socket is shut down, so a blocked owner wakes at once).
        while !self.rxFinished.load(ordering: .acquiring) {
            self.kick()
            if !self.rxFinished.load(ordering: .acquiring) { usleep(100) }
        }
        self.arm.withLock { $0.removed = true }
        self.provider.progress.unregister(self.fd.raw, token: self.token)
        self.regions.revokeAll()
        self.registrations.removeAll()
        self.context.gate.waitForOtherThreads()
        self.context.leaveGate()
    }
}
