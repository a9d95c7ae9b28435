#if canImport(Glibc)
import Glibc
#endif
import CSanABI
import CSanSupport
import SanCore
import Synchronization

/// The switch's side of WSPUPCALLTABLEEX (reference §3.3). Upcalls are C functions without
/// context, so their state is this process-wide registry: switch socket handles and their
/// contexts, and an optional log of upcalls for tests and diagnostics.
public final class SanUpcallRegistry: Sendable {
    public static let shared = SanUpcallRegistry()

    /// One upcall as the log records it.
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var switchSocket: SOCKET
        public var error: Int32
    }

    private struct State {
        var next: SOCKET = 0x5300_0000
        var contexts: [SOCKET: UInt] = [:]
        var log: [Entry]? = nil
        /// The handle each thread created last, until ``takeCreatedOnThisThread()`` claims it.
        var createdByThread: [UInt: SOCKET] = [:]
    }
    private let state = Mutex(State())

    func create(context: UInt) -> SOCKET {
        self.state.withLock { s in
            s.next += 1
            s.contexts[s.next] = context
            s.createdByThread[UInt(pthread_self())] = s.next
            s.log?.append(Entry(name: "WPUCreateSocketHandle", switchSocket: s.next, error: 0))
            return s.next
        }
    }

    func close(_ handle: SOCKET) -> Bool {
        self.state.withLock { s in
            s.log?.append(Entry(name: "WPUCloseSocketHandle", switchSocket: handle, error: 0))
            return s.contexts.removeValue(forKey: handle) != nil
        }
    }

    func context(_ handle: SOCKET) -> UInt? { self.state.withLock { $0.contexts[handle] } }

    func note(_ name: String, _ handle: SOCKET, _ error: Int32 = 0) {
        self.state.withLock { $0.log?.append(Entry(name: name, switchSocket: handle, error: error)) }
    }

    /// The switch handle whose context is a provider socket value, if it is open.
    public func switchHandle(forContext context: UInt) -> SOCKET? {
        self.state.withLock { s in s.contexts.first { $0.value == context }?.key }
    }

    /// Starts (or restarts) recording upcalls.
    public func startLog() { self.state.withLock { $0.log = [] } }

    /// Starts recording upcalls unless the log is already on; never clears it. For tests running
    /// in parallel, which each filter the log by their own switch handles.
    public func enableLog() { self.state.withLock { s in if s.log == nil { s.log = [] } } }

    /// The upcalls recorded for one switch socket handle, in order.
    public func log(for handle: SOCKET) -> [Entry] {
        self.state.withLock { ($0.log ?? []).filter { $0.switchSocket == handle } }
    }

    /// Forgets the handle the calling thread created last (before a call that may create one).
    func clearCreatedOnThisThread() { _ = self.state.withLock { $0.createdByThread.removeValue(forKey: UInt(pthread_self())) } }

    /// The handle WPUCreateSocketHandle returned on the calling thread since the last clear, if
    /// any: how the switch learns which switch handle a provider gave the socket it is creating
    /// (WSPSocket and WSPAccept create it on the caller's thread; reference §3.3).
    func takeCreatedOnThisThread() -> SOCKET? {
        self.state.withLock { $0.createdByThread.removeValue(forKey: UInt(pthread_self())) }
    }

    /// The upcalls recorded since ``startLog()``.
    public var log: [Entry] { self.state.withLock { $0.log ?? [] } }

    /// Number of switch socket handles open.
    public var openHandles: Int { self.state.withLock { $0.contexts.count } }

    /// The upcall table handed to every provider this switch loads.
    static let table: WSPUPCALLTABLEEX = {
        var t = WSPUPCALLTABLEEX()
        t.lpWPUCloseEvent = { ev, err in
            err?.pointee = 0
            guard let ev else { return 0 }
            SanEvent.from(ev).close()
            return 1
        }
        t.lpWPUCloseSocketHandle = { s, err in
            if SanUpcallRegistry.shared.close(s) {
                err?.pointee = 0
                return 0
            }
            err?.pointee = WSAENOTSOCK
            return -1
        }
        t.lpWPUCreateEvent = { err in
            err?.pointee = 0
            return SanEvent().handle
        }
        t.lpWPUCreateSocketHandle = { _, context, err in
            err?.pointee = 0
            return SanUpcallRegistry.shared.create(context: context)
        }
        t.lpWPUQuerySocketHandleContext = { s, ctx, err in
            guard let c = SanUpcallRegistry.shared.context(s) else {
                err?.pointee = WSAENOTSOCK
                return -1
            }
            ctx?.pointee = c
            err?.pointee = 0
            return 0
        }
        t.lpWPUResetEvent = { ev, err in
            err?.pointee = 0
            guard let ev else { return 0 }
            SanEvent.from(ev).reset()
            return 1
        }
        t.lpWPUSetEvent = { ev, err in
            err?.pointee = 0
            guard let ev else { return 0 }
            SanEvent.from(ev).set()
            return 1
        }
        t.lpWPUCompleteOverlappedRequest = { s, ov, error, bytes, err in
            err?.pointee = 0
            guard let ov else {
                err?.pointee = WSAEFAULT
                return -1
            }
            SanUpcallRegistry.shared.note("WPUCompleteOverlappedRequest", s, Int32(bitPattern: error))
            sanPublishCompletion(ov, error: error, bytes: bytes)
            if let ev = ov.pointee.hEvent, UInt(bitPattern: ev) & 1 == 0 {
                SanEvent.from(ev).completed(ov)
            }
            return 0
        }
        // Not used by SAN providers (reference §3.2/§4.5): APCs, window messages, blocking hooks.
        t.lpWPUQueueApc = { _, _, _, err in
            err?.pointee = WSAEOPNOTSUPP
            return -1
        }
        t.lpWPUOpenCurrentThread = { tid, err in
            tid?.pointee = WSATHREADID(ThreadHandle: nil, Reserved: UInt(bitPattern: Int(pthread_self())))
            err?.pointee = 0
            return 0
        }
        t.lpWPUCloseThread = { _, err in
            err?.pointee = 0
            return 0
        }
        t.lpWPUQueryBlockingCallback = { _, cb, ctx, err in
            cb?.pointee = nil
            ctx?.pointee = 0
            err?.pointee = 0
            return 0
        }
        t.lpWPUPostMessage = { _, _, _, _ in 0 }
        t.lpWPUFDIsSet = { s, set in
            guard let set else { return 0 }
            return withUnsafeBytes(of: set.pointee.fd_array) { raw in
                raw.bindMemory(to: SOCKET.self).prefix(Int(min(set.pointee.fd_count, UInt32(WSA_FD_SETSIZE))))
                    .contains(s) ? 1 : 0
            }
        }
        t.lpWPUGetProviderPath = { _, _, len, err in
            len?.pointee = 0
            err?.pointee = WSAEINVAL
            return -1
        }
        t.lpWPUModifyIFSHandle = { _, proposed, err in
            err?.pointee = 0
            return proposed
        }
        return t
    }()
}

/// What WPUCompleteOverlappedRequest does to the structure (reference §3.4): bytes into
/// `InternalHigh`, the error into `OffsetHigh`, then `Internal` off WSS_OPERATION_IN_PROGRESS
/// with release ordering so a thread that sees it also sees the rest.
func sanPublishCompletion(_ ov: UnsafeMutablePointer<WSAOVERLAPPED>, error: UInt32, bytes: UInt32) {
    ov.pointee.InternalHigh = UInt(bytes)
    ov.pointee.OffsetHigh = error
    withUnsafeMutablePointer(to: &ov.pointee.Internal) { csan_store_release_uptr($0, 0) }
}
