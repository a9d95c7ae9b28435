import CSanABI
import CSanSupport
import CSanTCP
import Glibc
import Synchronization
import SanCore

/// Memory for a test that outlives every call using it: page-aligned, filled with a pattern.
final class TestBuffer: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let count: Int
    private let owner: TestBuffer?

    init(_ count: Int, fill: UInt8 = 0) {
        self.count = count
        self.owner = nil
        self.base = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 4096)
        self.base.initializeMemory(as: UInt8.self, repeating: fill, count: max(count, 1))
    }

    /// A view of part of another buffer (kept alive by the view).
    init(view: UnsafeMutableRawPointer, count: Int, owner: TestBuffer) {
        self.base = view
        self.count = count
        self.owner = owner
    }

    /// A buffer holding a deterministic pattern derived from `seed`.
    convenience init(pattern count: Int, seed: UInt8) {
        self.init(count)
        for i in 0..<count { self.base.storeBytes(of: UInt8(truncatingIfNeeded: i &* 31 &+ Int(seed)), toByteOffset: i, as: UInt8.self) }
    }

    // Never freed: a test that fails (or fires and forgets an operation) may leave the provider
    // holding the address, and a completion into freed memory would corrupt the heap instead of
    // failing one test. Test buffers are small; the process ends with the suite.
    deinit { if self.owner == nil { Graveyard.bury(self.base) } }

    var bytes: [UInt8] { Array(UnsafeRawBufferPointer(start: self.base, count: self.count)) }

    func bytes(_ range: Range<Int>) -> [UInt8] { Array(UnsafeRawBufferPointer(start: self.base + range.lowerBound, count: range.count)) }

    func fill(_ value: UInt8) { self.base.initializeMemory(as: UInt8.self, repeating: value, count: self.count) }

    subscript(_ i: Int) -> UInt8 {
        get { self.base.load(fromByteOffset: i, as: UInt8.self) }
        set { self.base.storeBytes(of: newValue, toByteOffset: i, as: UInt8.self) }
    }

    /// (address, length) of a slice, for WSABUF lists.
    func part(_ offset: Int, _ length: Int) -> (UnsafeMutableRawPointer, Int) { (self.base + offset, length) }
}

/// A WSAOVERLAPPED at a stable address. `polls`: hEvent's low bit set (the caller polls
/// WSPGetOverlappedResult); clear: the provider reports through WPUCompleteOverlappedRequest.
final class TestOverlapped: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<WSAOVERLAPPED>
    let polls: Bool

    init(polls: Bool = true) {
        self.polls = polls
        self.pointer = .allocate(capacity: 1)
        self.pointer.initialize(to: WSAOVERLAPPED())
        self.pointer.pointee.hEvent = polls ? UnsafeMutableRawPointer(bitPattern: 1) : nil
    }

    deinit { Graveyard.bury(UnsafeMutableRawPointer(self.pointer)) }

    var isPending: Bool {
        withUnsafeMutablePointer(to: &self.pointer.pointee.Internal) { csan_load_acquire_uptr($0) } == sanOperationInProgress
    }

    var address: UInt { UInt(bitPattern: self.pointer) }
}

/// Where test memory goes instead of free() (see TestBuffer.deinit).
enum Graveyard {
    private static let buried = Mutex([UInt]())
    static func bury(_ p: UnsafeMutableRawPointer) { self.buried.withLock { $0.append(UInt(bitPattern: p)) } }
}

/// Runs `body` on a new thread and waits at most `seconds` for it (a blocking provider call that
/// never returns must fail the test, not hang the suite). Returns nil on timeout (the thread is
/// left behind).
func withDeadline<T: Sendable>(seconds: Double = 10, _ body: @escaping @Sendable () -> T) -> T? {
    let box = DeadlineBox<T>()
    let thread = TestThread {
        box.value = body()
        var one: UInt64 = 1
        _ = write(box.done, &one, 8)
    }
    var p = pollfd(fd: box.done, events: Int16(POLLIN), revents: 0)
    guard poll(&p, 1, Int32(seconds * 1000)) == 1 else { return nil }
    thread.join()
    close(box.done)
    return box.value
}

private final class DeadlineBox<T>: @unchecked Sendable {
    var value: T?
    let done = csan_tcp_eventfd()
}

/// A plain pthread running a closure (tests drive providers from several threads).
final class TestThread: @unchecked Sendable {
    private var thread = pthread_t()

    init(_ body: @escaping @Sendable () -> Void) {
        final class Context { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { self.body = b } }
        let ctx = Unmanaged.passRetained(Context(body)).toOpaque()
        let rc = pthread_create(&self.thread, nil, { arg in
            let c = Unmanaged<Context>.fromOpaque(arg!).takeRetainedValue()
            c.body()
            return nil
        }, ctx)
        precondition(rc == 0)
    }

    func join() { pthread_join(self.thread, nil) }
}
