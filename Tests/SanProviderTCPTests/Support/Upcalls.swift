import CSanABI
import CSanSupport
import CSanTCP
import Glibc
import SanCore
import Synchronization

/// A WSAEVENT for tests: an eventfd the provider sets and resets through the upcalls.
final class TestEvent: @unchecked Sendable {
    let fd: Int32 = csan_tcp_eventfd()
    deinit { close(self.fd) }

    var handle: WSAEVENT { Unmanaged.passUnretained(self).toOpaque() }

    static func from(_ h: WSAEVENT) -> TestEvent { Unmanaged<TestEvent>.fromOpaque(h).takeUnretainedValue() }

    /// True when set within `milliseconds`.
    func wait(milliseconds: Int32 = 10_000) -> Bool {
        var p = pollfd(fd: self.fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, milliseconds) == 1
    }
}

/// What the provider called back, per switch socket: the tests check that every socket's last
/// upcall is WPUCloseSocketHandle and that nothing follows it.
final class UpcallLog: Sendable {
    static let shared = UpcallLog()
    enum Entry: Equatable, Sendable {
        case created
        case completion(overlapped: UInt, error: UInt32, bytes: UInt32)
        case closed
    }
    private let entries = Mutex([SOCKET: [Entry]]())
    private let nextSwitchSocket = Atomic<UInt>(0x5000_0000_0000)

    func newSwitchSocket() -> SOCKET {
        let s = self.nextSwitchSocket.add(1, ordering: .relaxed).newValue
        self.entries.withLock { $0[s] = [.created] }
        return s
    }

    func record(_ s: SOCKET, _ e: Entry) { self.entries.withLock { $0[s, default: []].append(e) } }

    func entries(_ s: SOCKET) -> [Entry] { self.entries.withLock { $0[s] ?? [] } }

    /// True when WPUCloseSocketHandle was called exactly once for `s` and was its last upcall.
    func closedLast(_ s: SOCKET) -> Bool {
        let e = self.entries(s)
        return e.last == .closed && e.filter { $0 == .closed }.count == 1
    }
}

/// The switch's side of the upcall table, as plain C functions over global state.
enum TestUpcalls {
    /// The provider's SOCKET for each switch socket (WPUQuerySocketHandleContext).
    static let contexts = Mutex([SOCKET: UInt]())

    static var table: WSPUPCALLTABLEEX {
        var up = WSPUPCALLTABLEEX()
        up.lpWPUCreateEvent = { err in
            err?.pointee = 0
            return Unmanaged.passRetained(TestEvent()).toOpaque()
        }
        up.lpWPUCloseEvent = { ev, err in
            err?.pointee = 0
            if let ev { Unmanaged<TestEvent>.fromOpaque(ev).release() }
            return 1
        }
        up.lpWPUSetEvent = { ev, err in
            err?.pointee = 0
            guard let ev else { return 0 }
            var one: UInt64 = 1
            _ = write(TestEvent.from(ev).fd, &one, 8)
            return 1
        }
        up.lpWPUResetEvent = { ev, err in
            err?.pointee = 0
            guard let ev else { return 0 }
            var v: UInt64 = 0
            _ = read(TestEvent.from(ev).fd, &v, 8)
            return 1
        }
        up.lpWPUCreateSocketHandle = { _, ctx, err in
            err?.pointee = 0
            let s = UpcallLog.shared.newSwitchSocket()
            TestUpcalls.contexts.withLock { $0[s] = ctx }
            return s
        }
        up.lpWPUCloseSocketHandle = { s, err in
            err?.pointee = 0
            UpcallLog.shared.record(s, .closed)
            return 0
        }
        up.lpWPUQuerySocketHandleContext = { s, ctx, err in
            err?.pointee = 0
            ctx?.pointee = TestUpcalls.contexts.withLock { $0[s] ?? 0 }
            return 0
        }
        up.lpWPUCompleteOverlappedRequest = { s, ov, error, bytes, err in
            err?.pointee = 0
            UpcallLog.shared.record(s, .completion(overlapped: UInt(bitPattern: ov), error: error, bytes: bytes))
            guard let ov else { return -1 }
            ov.pointee.InternalHigh = UInt(bytes)
            ov.pointee.OffsetHigh = error
            withUnsafeMutablePointer(to: &ov.pointee.Internal) { csan_store_release_uptr($0, 0) }
            return 0
        }
        return up
    }
}
