import CSanABI
import SanCore
import Synchronization

/// Maps a provider's SOCKET values to its socket objects. SOCKET values are small opaque numbers
/// (never pointers), so a stale or forged value is answered with WSAENOTSOCK instead of being
/// dereferenced (reference §3.3: the provider's descriptor may be "any value").
public final class SocketTable<Socket: AnyObject & Sendable>: Sendable {
    // Internal to the module but inlinable: lookup runs on every call, and a specialised copy
    // in the provider avoids the generic metadata look-ups of an unspecialised call.
    @usableFromInline struct State {
        @usableFromInline var sockets: [UInt: Socket] = [:]
        @usableFromInline var next: UInt = 0
        @usableFromInline init() {}
    }
    @usableFromInline let state = Mutex(State())
    private let base: UInt

    /// `base` makes one provider's values recognisable in traces (e.g. 0x7C00_0000 for tcp).
    public init(base: UInt) { self.base = base }

    /// Stores a socket and returns its new SOCKET value.
    public func insert(_ make: (SOCKET) -> Socket) -> (SOCKET, Socket) {
        self.state.withLock { s in
            s.next += 1
            let value = self.base + s.next
            let socket = make(value)
            s.sockets[value] = socket
            return (value, socket)
        }
    }

    /// The socket for a SOCKET value, or nil (the caller answers WSAENOTSOCK).
    @inlinable
    public func lookup(_ value: SOCKET) -> Socket? { self.state.withLock { $0.sockets[value] } }

    /// Removes and returns the socket (WSPCloseSocket).
    public func remove(_ value: SOCKET) -> Socket? { self.state.withLock { $0.sockets.removeValue(forKey: value) } }

    /// Every live socket (WSPCleanup, the cache callback).
    public var all: [Socket] { self.state.withLock { Array($0.sockets.values) } }

    /// Removes every socket and returns them.
    public func removeAll() -> [Socket] {
        self.state.withLock { s in
            let all = Array(s.sockets.values)
            s.sockets.removeAll()
            return all
        }
    }
}
