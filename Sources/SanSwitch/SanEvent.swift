#if canImport(Glibc)
import Glibc
#endif
import CSanABI
import CSanSupport
import Synchronization

/// A WSAEVENT on Linux: an eventfd the provider sets and resets through the WPUSetEvent /
/// WPUResetEvent upcalls (Docs/ABI.md rule 4). As the `hEvent` of an overlapped operation in
/// upcall mode it also collects the operations WPUCompleteOverlappedRequest finished, so one
/// event can serve as a completion queue for many operations (like an I/O completion port).
///
/// The WSAEVENT value handed to a provider is this object's address; the object stays alive
/// while the value is in use (``handle`` retains it until ``close()``).
public final class SanEvent: @unchecked Sendable {
    /// The eventfd, for callers that want to poll(2) it with other descriptors.
    public let fd: Int32
    private let completed = Mutex<[UInt]>([])  // WSAOVERLAPPED addresses
    private let retained = Mutex(false)

    public init() {
        self.fd = csan_eventfd_nonblocking()
        precondition(self.fd >= 0, "eventfd failed: errno \(errno)")
    }

    deinit { Glibc.close(self.fd) }

    /// The WSAEVENT value for this event. The event keeps itself alive until ``close()``.
    public var handle: WSAEVENT {
        self.retained.withLock { r in
            if !r {
                _ = Unmanaged.passRetained(self)
                r = true
            }
        }
        return Unmanaged.passUnretained(self).toOpaque()
    }

    /// Releases the self-reference taken by ``handle``.
    public func close() {
        let was = self.retained.withLock { r -> Bool in
            defer { r = false }
            return r
        }
        if was { Unmanaged.passUnretained(self).release() }
    }

    /// The event behind a WSAEVENT value this switch created.
    public static func from(_ handle: WSAEVENT) -> SanEvent {
        Unmanaged<SanEvent>.fromOpaque(handle).takeUnretainedValue()
    }

    /// WPUSetEvent.
    public func set() {
        var one: UInt64 = 1
        _ = Glibc.write(self.fd, &one, 8)
    }

    /// WPUResetEvent: drains the counter.
    public func reset() {
        var v: UInt64 = 0
        _ = Glibc.read(self.fd, &v, 8)
    }

    /// True if the event is set (without resetting it).
    public var isSet: Bool {
        var p = pollfd(fd: self.fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, 0) == 1
    }

    /// Waits until the event is set or `timeoutMilliseconds` pass (-1: forever). Returns false on
    /// timeout. Does not reset the event.
    public func wait(timeoutMilliseconds: Int32) -> Bool {
        var p = pollfd(fd: self.fd, events: Int16(POLLIN), revents: 0)
        while true {
            let r = poll(&p, 1, timeoutMilliseconds)
            if r == 1 { return true }
            if r == 0 { return false }
            if errno != EINTR { return false }
        }
    }

    /// Called by the completion upcall: remember the operation and set the event.
    func completed(_ ov: UnsafeMutablePointer<WSAOVERLAPPED>) {
        self.completed.withLock { $0.append(UInt(bitPattern: ov)) }
        self.set()
    }

    /// The allocation-free form of ``takeCompleted()`` for hot loops: resets the event, then
    /// moves the addresses of the structures completed since the last call into `out` (cleared
    /// first; its storage is swapped with the event's, so steady-state calls allocate nothing).
    public func drainCompleted(into out: inout [UInt]) {
        self.reset()
        out.removeAll(keepingCapacity: true)
        self.completed.withLock { list in swap(&list, &out) }
    }

    /// Takes the overlapped structures completed through this event since the last call.
    public func takeCompleted() -> [UnsafeMutablePointer<WSAOVERLAPPED>] {
        let addresses = self.completed.withLock { list in
            defer { list.removeAll(keepingCapacity: true) }
            return list
        }
        return addresses.map { UnsafeMutablePointer(bitPattern: $0)! }
    }
}
