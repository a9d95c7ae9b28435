#if canImport(Glibc)
import Glibc
#endif
import CSanABI
import CSanSupport
import SanCore

/// How a finished operation reports itself (reference §3.4).
public enum SanCompletionMode: Sendable, Equatable {
    /// hEvent low bit set: the caller polls WSPGetOverlappedResult; the provider must not upcall.
    case poll
    /// hEvent low bit clear: the provider calls WPUCompleteOverlappedRequest, which publishes the
    /// result and sets this event (and queues the operation on it).
    case upcall(SanEvent)

    public static func == (a: SanCompletionMode, b: SanCompletionMode) -> Bool {
        switch (a, b) {
        case (.poll, .poll): return true
        case (.upcall(let x), .upcall(let y)): return x === y
        default: return false
        }
    }
}

/// The result of a finished overlapped operation.
public struct SanCompletion: Sendable, Equatable {
    public var bytes: UInt32
    public var flags: UInt32
    /// nil on success.
    public var error: WSAError?

    public init(bytes: UInt32, flags: UInt32 = 0, error: WSAError? = nil) {
        self.bytes = bytes
        self.flags = flags
        self.error = error
    }
}

/// How a poll-mode wait spends its time.
public enum SanWaitStrategy: Sendable {
    /// WSPGetOverlappedResult(fWait: FALSE) in a loop: lowest latency, burns a core.
    case spin
    /// The same, yielding the CPU between polls (the default: fair on small machines).
    case yield
    /// WSPGetOverlappedResult(fWait: TRUE): sleeps in the provider. Has no timeout of its own.
    case block
    /// Yields a few times, then sleeps in growing steps up to 1 ms between polls: for a side
    /// that waits long and should leave the CPU to others (the passive end of a benchmark).
    case backoff
}

/// One overlapped operation slot: a WSAOVERLAPPED at a stable address plus its completion mode.
/// Reusable: start another operation with it once the previous one finished.
///
/// The structure belongs to the provider from the moment an operation starts until it completes;
/// an operation released while still pending leaks its structure on purpose rather than let the
/// provider write into freed memory.
public final class SanOperation: @unchecked Sendable {
    /// The structure handed to the provider. Do not free or move it.
    public let overlapped: UnsafeMutablePointer<WSAOVERLAPPED>
    public let mode: SanCompletionMode
    /// The socket and provider of the last operation started with this slot.
    var socket: SOCKET = sanInvalidSocket
    var getOverlappedResult: LPWSPGETOVERLAPPEDRESULT? = nil
    /// Set when the provider completed the operation inline (the call returned 0, not pending).
    var inlineResult: SanCompletion?

    public init(mode: SanCompletionMode = .poll) {
        self.mode = mode
        self.overlapped = .allocate(capacity: 1)
        self.overlapped.initialize(to: WSAOVERLAPPED())
        self.prepare()
    }

    deinit {
        if !self.isPending { self.overlapped.deallocate() }
    }

    /// Resets the structure for a new operation (before handing it to the provider).
    func prepare() {
        self.overlapped.pointee = WSAOVERLAPPED()
        switch self.mode {
        case .poll: self.overlapped.pointee.hEvent = UnsafeMutableRawPointer(bitPattern: 1)
        case .upcall(let ev): self.overlapped.pointee.hEvent = ev.handle
        }
        self.inlineResult = nil
    }

    func started(on socket: SOCKET, _ gor: LPWSPGETOVERLAPPEDRESULT?) {
        self.socket = socket
        self.getOverlappedResult = gor
    }

    /// True while the provider still owns the structure (Internal == WSS_OPERATION_IN_PROGRESS).
    public var isPending: Bool {
        withUnsafeMutablePointer(to: &self.overlapped.pointee.Internal) { csan_load_acquire_uptr($0) }
            == sanOperationInProgress
    }

    /// The result if the operation finished, without waiting: WSPGetOverlappedResult(fWait:
    /// FALSE) in poll mode; the published fields in upcall mode.
    public func poll() -> SanCompletion? {
        if let r = self.inlineResult { return r }
        switch self.mode {
        case .poll: return self.callGetOverlappedResult(wait: false)
        case .upcall: return self.published
        }
    }

    /// The result fields as published in the structure (`InternalHigh`, `Offset`, `OffsetHigh`
    /// once `Internal` left WSS_OPERATION_IN_PROGRESS), read without calling the provider: what
    /// a caller can still inspect after WSPCloseSocket, when WSPGetOverlappedResult no longer
    /// knows the socket. nil while pending.
    public var published: SanCompletion? {
        guard !self.isPending else { return nil }
        let err = Int32(bitPattern: self.overlapped.pointee.OffsetHigh)
        return SanCompletion(bytes: UInt32(truncatingIfNeeded: self.overlapped.pointee.InternalHigh),
                             flags: self.overlapped.pointee.Offset, error: err == 0 ? nil : WSAError(err))
    }

    /// Waits for the result. Throws ``SanSwitchError/timedOut(what:)`` after `timeoutNanoseconds`
    /// (not enforced by the `.block` strategy, which the provider implements).
    public func wait(timeoutNanoseconds: UInt64 = 30_000_000_000, strategy: SanWaitStrategy = .yield)
        throws(SanSwitchError) -> SanCompletion
    {
        if let r = self.poll() { return r }
        if case .poll = self.mode, strategy == .block, let r = self.callGetOverlappedResult(wait: true) { return r }
        let deadline = csan_monotonic_ns() &+ timeoutNanoseconds
        var spins = 0
        while true {
            if case .upcall(let ev) = self.mode, strategy != .spin {
                let left = deadline > csan_monotonic_ns() ? deadline - csan_monotonic_ns() : 0
                _ = ev.wait(timeoutMilliseconds: Int32(min(left / 1_000_000 + 1, 1000)))
            } else if strategy == .backoff && spins >= 16 {
                // 1 µs, 2 µs, 4 µs … capped at 1 ms.
                var ts = timespec(tv_sec: 0, tv_nsec: min(1_000 << min(spins - 16, 10), 1_000_000))
                nanosleep(&ts, nil)
            } else if strategy != .spin || spins & 255 == 255 {
                sched_yield()
            }
            if let r = self.poll() { return r }
            spins += 1
            if spins & 63 == 0 && csan_monotonic_ns() >= deadline {
                throw .timedOut(what: "completion of an operation on socket \(self.socket)")
            }
        }
    }

    private func callGetOverlappedResult(wait: Bool) -> SanCompletion? {
        guard let gor = self.getOverlappedResult else { return nil }
        var bytes: UInt32 = 0
        var flags: UInt32 = 0
        var err: Int32 = 0
        if gor(self.socket, self.overlapped, &bytes, wait ? 1 : 0, &flags, &err) != 0 {
            return SanCompletion(bytes: bytes, flags: flags, error: nil)
        }
        if err == WSA_IO_INCOMPLETE { return nil }
        return SanCompletion(bytes: bytes, flags: flags, error: WSAError(err))
    }
}
