import CSanABI
import SanCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Maps a provider's SOCKET values to its socket objects. SOCKET values are small opaque numbers
/// (never pointers), so a stale or forged value is answered with WSAENOTSOCK instead of being
/// dereferenced (reference §3.3: the provider's descriptor may be "any value").
///
/// Every call looks a socket up, from every application thread, so look-ups take a shared
/// (reader) lock and never wait for each other. A `Mutex` here made 8 threads on 2 cores run ~30×
/// slower than one: Swift's Mutex on Linux is a priority-inheritance futex, which sends every
/// contended acquisition through the kernel and hands the lock over strictly in turn.
///
/// Unsafe code: a pthread reader-writer lock in raw memory guards `sockets` (hence
/// `@unchecked Sendable`).
public final class SocketTable<Socket: AnyObject & Sendable>: @unchecked Sendable {
    // Internal to the module but inlinable: lookup runs on every call, and a specialised copy
    // in the provider avoids the generic metadata look-ups of an unspecialised call.
    @usableFromInline let lock: UnsafeMutablePointer<pthread_rwlock_t>
    /// Guarded by `lock`.
    @usableFromInline var sockets: [UInt: Socket] = [:]
    private var next: UInt = 0
    private let base: UInt

    /// `base` makes one provider's values recognisable in traces (e.g. 0x7C00_0000 for tcp).
    public init(base: UInt) {
        self.base = base
        self.lock = .allocate(capacity: 1)
        pthread_rwlock_init(self.lock, nil)
    }

    deinit {
        pthread_rwlock_destroy(self.lock)
        self.lock.deallocate()
    }

    @usableFromInline
    func exclusive<T>(_ body: () -> T) -> T {
        pthread_rwlock_wrlock(self.lock)
        defer { pthread_rwlock_unlock(self.lock) }
        return body()
    }

    /// Stores a socket and returns its new SOCKET value.
    public func insert(_ make: (SOCKET) -> Socket) -> (SOCKET, Socket) {
        self.exclusive {
            self.next += 1
            let value = self.base + self.next
            let socket = make(value)
            self.sockets[value] = socket
            return (value, socket)
        }
    }

    /// The socket for a SOCKET value, or nil (the caller answers WSAENOTSOCK).
    @inlinable
    public func lookup(_ value: SOCKET) -> Socket? {
        pthread_rwlock_rdlock(self.lock)
        defer { pthread_rwlock_unlock(self.lock) }
        return self.sockets[value]
    }

    /// Removes and returns the socket (WSPCloseSocket).
    public func remove(_ value: SOCKET) -> Socket? { self.exclusive { self.sockets.removeValue(forKey: value) } }

    /// Every live socket (WSPCleanup, the cache callback).
    public var all: [Socket] {
        pthread_rwlock_rdlock(self.lock)
        defer { pthread_rwlock_unlock(self.lock) }
        return Array(self.sockets.values)
    }

    /// Removes every socket and returns them.
    public func removeAll() -> [Socket] {
        self.exclusive {
            let all = Array(self.sockets.values)
            self.sockets.removeAll()
            return all
        }
    }
}
