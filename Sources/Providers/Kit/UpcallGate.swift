import Synchronization

/// Keeps WPUCloseSocketHandle the last upcall for a socket (reference §4.7) when other threads
/// may be reporting completions or signalling events for it at the moment it is closed.
///
/// Every thread that is about to make an upcall for the socket enters the gate first and leaves
/// after the upcall. WSPCloseSocket calls ``beginClose()`` and, once it has reported its own
/// aborted operations, ``leave()`` like everyone else: whoever leaves last after the close began
/// is told to call WPUCloseSocketHandle, exactly once.
///
/// Completions always enter (an operation taken from the socket's queues before the close must
/// still be reported); event signals use ``enterUnlessClosing()`` and are dropped after the close
/// began (the switch may close the event object once the socket is gone).
public final class UpcallGate: Sendable {
    private struct State {
        var active = 0
        var closing = false
        var handleClosed = false
    }
    private let state = Mutex(State())

    public init() {}

    /// Enters for a completion upcall.
    public func enter() { self.state.withLock { $0.active += 1 } }

    /// Enters for an event upcall; false (and not entered) once the close began.
    public func enterUnlessClosing() -> Bool {
        self.state.withLock { s in
            guard !s.closing else { return false }
            s.active += 1
            return true
        }
    }

    /// Leaves; true when the caller must now call WPUCloseSocketHandle.
    public func leave() -> Bool {
        self.state.withLock { s in
            s.active -= 1
            return Self.takeHandleClose(&s)
        }
    }

    /// Marks the close and enters on behalf of the closing thread (which leaves with ``leave()``).
    public func beginClose() {
        self.state.withLock { s in
            s.closing = true
            s.active += 1
        }
    }

    /// True once the close began.
    public var isClosing: Bool { self.state.withLock { $0.closing } }

    private static func takeHandleClose(_ s: inout State) -> Bool {
        guard s.closing, s.active == 0, !s.handleClosed else { return false }
        s.handleClosed = true
        return true
    }
}
