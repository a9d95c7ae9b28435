import CSanSupport
import CSanTCP
import Glibc
import Synchronization

/// Something the progress thread watches: a listener, a handshake in progress, a connection.
protocol PollTarget: AnyObject, Sendable {
    /// Readiness reported by epoll (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP bits).
    func handle(events: UInt32)
    /// Called about every 100 ms for targets registered with ``ProgressEngine/startTicking(_:_:)``
    /// (handshake deadlines).
    func tick(now: UInt64)
}

extension PollTarget {
    func tick(now: UInt64) {}
}

/// The provider's progress thread: one epoll loop per process that accepts connections, runs
/// handshakes, reads frames from connections nobody else is reading (one-sided RDMA is served
/// here, without the target application) and drains transmit queues that filled the socket.
///
/// epoll tokens are ids looked up in a table, never pointers, so an event for a target that was
/// just unregistered finds nothing instead of freed memory.
final class ProgressEngine: Sendable {
    let epfd: Int32
    private let wakeFD: Int32
    private let targets = Mutex<[UInt64: any PollTarget]>([:])
    private let ticking = Mutex<[UInt64: any PollTarget]>([:])
    private let nextToken = Atomic<UInt64>(1)
    private let started = Atomic<Bool>(false)
    /// Connections whose receive side a waiter leased (Connection.rxLeased), checked when the
    /// earliest lease would end (epoll waits with a nanosecond timeout meanwhile).
    private let leased = Mutex<[UInt64: Connection]>([:])
    private let leaseCount = Atomic<Int>(0)

    init() {
        self.epfd = Sys.epollCreate()
        self.wakeFD = Sys.eventFD()
        precondition(self.epfd >= 0 && self.wakeFD >= 0, "libsan_tcp: epoll_create1/eventfd failed")
        _ = Sys.epollAdd(self.epfd, self.wakeFD, events: CSAN_TCP_EPOLLIN, token: 0)
    }

    /// Starts the thread once (the first WSPStartupEx). It runs for the life of the process: the
    /// library is never unloaded (`-z nodelete`), and an idle epoll_wait costs nothing.
    func start() {
        guard self.started.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else { return }
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&thread, nil, { arg in
            let engine = Unmanaged<ProgressEngine>.fromOpaque(arg!).takeRetainedValue()
            engine.run()
            return nil
        }, context)
        precondition(rc == 0, "libsan_tcp: cannot start the progress thread (\(rc))")
        pthread_detach(thread)
    }

    /// A fresh token for a new target.
    func newToken() -> UInt64 { self.nextToken.add(1, ordering: .relaxed).newValue }

    /// Adds `fd` to epoll for `target`; returns the errno on failure.
    func register(_ fd: Int32, events: UInt32, token: UInt64, target: any PollTarget) -> Int32? {
        self.targets.withLock { $0[token] = target }
        if let e = Sys.epollAdd(self.epfd, fd, events: events, token: token) {
            self.targets.withLock { _ = $0.removeValue(forKey: token) }
            return e
        }
        return nil
    }

    /// Changes the events of a registered fd (re-arms EPOLLONESHOT registrations).
    func modify(_ fd: Int32, events: UInt32, token: UInt64) {
        Sys.epollModify(self.epfd, fd, events: events, token: token)
    }

    /// Removes `fd` from epoll and forgets its target.
    func unregister(_ fd: Int32, token: UInt64) {
        Sys.epollRemove(self.epfd, fd)
        self.targets.withLock { _ = $0.removeValue(forKey: token) }
        self.stopTicking(token)
        if self.leased.withLock({ $0.removeValue(forKey: token) }) != nil {
            self.leaseCount.subtract(1, ordering: .acquiringAndReleasing)
        }
    }

    /// Forgets a target whose fd was already removed or never added.
    func forget(token: UInt64) {
        self.targets.withLock { _ = $0.removeValue(forKey: token) }
        self.stopTicking(token)
    }

    /// Watches a leased connection until its lease expires. The first lease wakes the loop so it
    /// waits with the lease's timeout.
    func lease(_ connection: Connection) {
        guard self.leased.withLock({ $0.updateValue(connection, forKey: connection.token) == nil }) else { return }
        if self.leaseCount.add(1, ordering: .acquiringAndReleasing).newValue == 1 { Sys.signal(eventFD: self.wakeFD) }
    }

    /// Ends the leases that ran out; returns when the next one would (nil: none left).
    private func expireLeases(now: UInt64) -> UInt64? {
        var next: UInt64?
        let expired = self.leased.withLock { leased -> Int in
            var done: [UInt64] = []
            for (token, connection) in leased {
                if let end = connection.expireLease(now: now) {
                    next = min(next ?? end, end)
                } else {
                    done.append(token)
                }
            }
            for k in done { leased[k] = nil }
            return done.count
        }
        if expired > 0 { self.leaseCount.subtract(expired, ordering: .acquiringAndReleasing) }
        return next
    }

    func startTicking(_ token: UInt64, _ target: any PollTarget) {
        self.ticking.withLock { $0[token] = target }
        Sys.signal(eventFD: self.wakeFD)
    }

    func stopTicking(_ token: UInt64) { self.ticking.withLock { _ = $0.removeValue(forKey: token) } }

    private func run() {
        csan_tcp_set_thread_name("san_tcp progress")
        let capacity = 64
        let events = UnsafeMutablePointer<UInt32>.allocate(capacity: capacity)
        let tokens = UnsafeMutablePointer<UInt64>.allocate(capacity: capacity)
        var lastTick = csan_monotonic_ns()
        // When the earliest lease ends (0: none known; a new lease wakes the loop).
        var leaseCheck: UInt64 = 0
        while true {
            var timeout: Int64 = self.ticking.withLock { $0.isEmpty } ? -1 : 100_000_000
            if self.leaseCount.load(ordering: .acquiring) > 0 {
                let now = csan_monotonic_ns()
                let left = leaseCheck > now ? Int64(leaseCheck - now) : 0
                timeout = timeout < 0 ? left : min(timeout, left)
            }
            let n = Sys.epollWait(self.epfd, events: events, tokens: tokens, max: Int32(capacity),
                                  timeoutNanoseconds: timeout)
            for i in 0..<n {
                if tokens[i] == 0 {
                    Sys.drain(eventFD: self.wakeFD)
                    continue
                }
                let target = self.targets.withLock { $0[tokens[i]] }
                target?.handle(events: events[i])
            }
            let now = csan_monotonic_ns()
            if self.leaseCount.load(ordering: .acquiring) > 0 && now >= leaseCheck {
                // A lease added while this ran is found at the next check, a lease's time later
                // at most (a new lease only wakes the loop when it is the first).
                leaseCheck = self.expireLeases(now: now) ?? now &+ 1_000_000
            }
            if now &- lastTick >= 100_000_000 {
                lastTick = now
                for target in self.ticking.withLock({ Array($0.values) }) { target.tick(now: now) }
            }
        }
    }
}
