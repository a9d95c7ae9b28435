import CSanABI
import CSanSupport
import CSanVerbsSupport
import Glibc
import SanCore
@testable import SanProviderVerbs
import Synchronization
import Testing

/// The switch side of the provider tests: an upcall table (events are eventfds, switch socket
/// handles are the provider's value with a tag bit) and a log of the upcalls that matter for
/// ordering. Upcalls are C function pointers without context, so the log is global and the
/// suites that use it are serialized.
enum TestSwitch {
    enum Upcall: Equatable, Sendable {
        case completed(switchSocket: SOCKET, overlapped: UInt, error: UInt32, bytes: UInt32)
        case closed(switchSocket: SOCKET)
    }

    static let log = Mutex<[Upcall]>([])
    static let tag: SOCKET = 0x50_0000_0000

    static var table: WSPUPCALLTABLEEX {
        var t = WSPUPCALLTABLEEX()
        t.lpWPUCreateSocketHandle = { _, context, err in
            err?.pointee = 0
            return SOCKET(context) ^ TestSwitch.tag
        }
        t.lpWPUCloseSocketHandle = { s, err in
            TestSwitch.log.withLock { $0.append(.closed(switchSocket: s)) }
            err?.pointee = 0
            return 0
        }
        t.lpWPUSetEvent = { ev, err in
            var one: UInt64 = 1
            _ = write(TestSwitch.fd(ev), &one, 8)
            err?.pointee = 0
            return 1
        }
        t.lpWPUResetEvent = { ev, err in
            var v: UInt64 = 0
            _ = read(TestSwitch.fd(ev), &v, 8)
            err?.pointee = 0
            return 1
        }
        t.lpWPUCompleteOverlappedRequest = { s, ov, error, bytes, err in
            TestSwitch.log.withLock {
                $0.append(.completed(switchSocket: s, overlapped: UInt(bitPattern: ov), error: error, bytes: bytes))
            }
            ov!.pointee.InternalHigh = UInt(bytes)
            ov!.pointee.OffsetHigh = error
            withUnsafeMutablePointer(to: &ov!.pointee.Internal) { csan_store_release_uptr($0, 0) }
            err?.pointee = 0
            return 0
        }
        return t
    }

    static func fd(_ ev: WSAEVENT?) -> Int32 { Int32(UInt(bitPattern: ev) - 1) }

    /// A new event object.
    static func event() -> WSAEVENT {
        let fd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        return UnsafeMutableRawPointer(bitPattern: UInt(fd) + 1)!
    }

    static func wait(_ ev: WSAEVENT, milliseconds: Int32 = 10_000) -> Bool {
        var p = pollfd(fd: Self.fd(ev), events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, milliseconds) == 1
    }

    static func close(_ ev: WSAEVENT) { _ = Glibc.close(Self.fd(ev)) }
}

/// One WSAOVERLAPPED in stable memory.
final class Overlapped {
    let pointer: UnsafeMutablePointer<WSAOVERLAPPED>

    /// `polls`: hEvent low bit set (the caller polls WSPGetOverlappedResult); else the provider
    /// reports through WPUCompleteOverlappedRequest.
    init(polls: Bool) {
        self.pointer = .allocate(capacity: 1)
        self.pointer.initialize(to: WSAOVERLAPPED())
        self.pointer.pointee.hEvent = polls ? UnsafeMutableRawPointer(bitPattern: 1) : nil
    }

    deinit { self.pointer.deallocate() }

    var isDone: Bool { withUnsafeMutablePointer(to: &self.pointer.pointee.Internal) { csan_load_acquire_uptr($0) } == 0 }

    /// Waits (up to 10 s) for completion; returns (error, bytes) as the switch sees them.
    func result() -> (error: Int32, bytes: UInt32)? {
        for _ in 0..<10_000 {
            if self.isDone {
                return (Int32(bitPattern: self.pointer.pointee.OffsetHigh), UInt32(truncatingIfNeeded: self.pointer.pointee.InternalHigh))
            }
            usleep(1_000)
        }
        return nil
    }
}

/// Registered-looking memory for tests: a page-aligned buffer that outlives every operation.
final class Buffer {
    let base: UnsafeMutableRawPointer
    let count: Int

    init(_ count: Int, fill: UInt8 = 0) {
        self.base = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 4096)
        self.count = count
        self.base.initializeMemory(as: UInt8.self, repeating: fill, count: count)
    }

    deinit { self.base.deallocate() }

    var bytes: [UInt8] { Array(UnsafeRawBufferPointer(start: self.base, count: self.count)) }

    func fillPattern(seed: UInt8) {
        for i in 0..<self.count { self.base.storeBytes(of: UInt8(truncatingIfNeeded: i &* 7 &+ Int(seed)), toByteOffset: i, as: UInt8.self) }
    }
}
