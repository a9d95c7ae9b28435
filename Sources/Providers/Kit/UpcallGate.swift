#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Keeps WPUCloseSocketHandle the last upcall for a socket (reference §4.7) when other threads
/// may be reporting completions or signalling events for it at the moment it is closed.
///
/// Every thread that is about to make an upcall for the socket enters the gate first and leaves
/// after the upcall (the thread that takes an operation off a queue is the one that reports it).
/// WSPCloseSocket calls ``beginClose()``, reports its own aborted operations, waits with
/// ``waitForOtherThreads()`` until completions other threads already took are reported, and
/// leaves like everyone else: whoever leaves last after the close began is told to call
/// WPUCloseSocketHandle, exactly once. A close made from inside a completion upcall of the same
/// socket does not wait for its own thread; that thread closes the handle after its last upcall.
///
/// Completions always enter (an operation taken from the socket's queues before the close must
/// still be reported); event signals use ``enterUnlessClosing()`` and are dropped after the close
/// began (the switch may close the event object once the socket is gone).
public final class UpcallGate: Sendable {
    private struct State {
        var active = 0
        var closing = false
        var handleClosed = false
        /// Entries per thread (pthread_self), so a close can tell its own from others'.
        var byThread: [UInt: Int] = [:]

        mutating func add(_ thread: UInt, _ delta: Int) {
            self.active += delta
            let n = self.byThread[thread, default: 0] + delta
            self.byThread[thread] = n == 0 ? nil : n
        }
    }
    private let state = Mutex(State())

    public init() {}

    private static var currentThread: UInt { UInt(pthread_self()) }

    /// Enters for a completion upcall.
    public func enter() {
        let t = Self.currentThread
        self.state.withLock { $0.add(t, 1) }
    }

    /// Enters for an event upcall; false (and not entered) once the close began.
    public func enterUnlessClosing() -> Bool {
        let t = Self.currentThread
        return self.state.withLock { s in
            guard !s.closing else { return false }
            s.add(t, 1)
            return true
        }
    }

    /// Leaves; true when the caller must now call WPUCloseSocketHandle.
    public func leave() -> Bool {
        let t = Self.currentThread
        return self.state.withLock { s in
            s.add(t, -1)
            guard s.closing, s.active == 0, !s.handleClosed else { return false }
            s.handleClosed = true
            return true
        }
    }

    /// Marks the close and enters on behalf of the closing thread (which leaves with ``leave()``).
    public func beginClose() {
        let t = Self.currentThread
        self.state.withLock { s in
            s.closing = true
            s.add(t, 1)
        }
    }

    /// Sleeps until no other thread is inside the gate (completions already taken are reported).
    public func waitForOtherThreads() {
        let t = Self.currentThread
        while self.state.withLock({ $0.active - ($0.byThread[t] ?? 0) }) > 0 { usleep(20) }
    }

    /// True once the close began.
    public var isClosing: Bool { self.state.withLock { $0.closing } }
}
