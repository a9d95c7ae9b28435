import CSanABI
import CSanSupport
import SanCore
import Synchronization

/// Completion reporting for overlapped operations, the same for every provider (reference §3.4,
/// §5.3): start marks `Internal` WSS_OPERATION_IN_PROGRESS; completion stores the result fields
/// and then either publishes `Internal = 0` (hEvent low bit set: the caller polls) or calls
/// WPUCompleteOverlappedRequest (bit clear).
///
/// Waiting (`WSPGetOverlappedResult(fWait: TRUE)`) sleeps on a futex on the low 32 bits of
/// `Internal`. Completers only pay for the wake syscall while some thread waits: the waiter count
/// and `Internal` are both accessed sequentially consistently, so either the completer sees the
/// waiter or the waiter sees the completion (Dekker).
public final class OverlappedCompleter: Sendable {
    private let waiters = Atomic<Int>(0)

    public init() {}

    /// Marks an operation started: `Internal = WSS_OPERATION_IN_PROGRESS`, result fields zeroed.
    @inlinable
    public func begin(_ ov: UnsafeMutablePointer<WSAOVERLAPPED>) {
        ov.pointee.InternalHigh = 0
        ov.pointee.Offset = 0
        ov.pointee.OffsetHigh = 0
        withUnsafeMutablePointer(to: &ov.pointee.Internal) { csan_store_seqcst_uptr($0, sanOperationInProgress) }
    }

    /// Reports a finished operation. `switchSocket` is the switch's handle for the socket (from
    /// WPUCreateSocketHandle), used only in upcall mode.
    public func complete(_ ov: UnsafeMutablePointer<WSAOVERLAPPED>, switchSocket: SOCKET, upcalls: ProviderUpcalls,
                         error: WSAError?, bytes: UInt32, flags: UInt32 = 0) {
        let code = error?.rawValue ?? 0
        ov.pointee.Offset = flags
        ov.pointee.OffsetHigh = UInt32(bitPattern: code)
        if ov.pointee.pollsForCompletion {
            ov.pointee.InternalHigh = UInt(bytes)
            withUnsafeMutablePointer(to: &ov.pointee.Internal) { csan_store_seqcst_uptr($0, 0) }
            if self.waiters.load(ordering: .sequentiallyConsistent) > 0 {
                withUnsafeMutablePointer(to: &ov.pointee.Internal) {
                    $0.withMemoryRebound(to: UInt32.self, capacity: 1) { csan_futex_wake_u32($0) }
                }
            }
        } else {
            upcalls.completeOverlappedRequest(switchSocket, ov, error: code, bytes: bytes)
        }
    }

    /// The result of a finished operation as WSPGetOverlappedResult reports it.
    public struct Outcome: Sendable {
        public var bytes: UInt32
        public var flags: UInt32
        public var error: WSAError?
    }

    /// True while the operation is pending.
    @inlinable
    public func isPending(_ ov: UnsafeMutablePointer<WSAOVERLAPPED>) -> Bool {
        withUnsafeMutablePointer(to: &ov.pointee.Internal) { csan_load_acquire_uptr($0) } == sanOperationInProgress
    }

    /// Reads the outcome of a finished operation; nil while it is pending.
    public func outcome(_ ov: UnsafeMutablePointer<WSAOVERLAPPED>) -> Outcome? {
        if self.isPending(ov) { return nil }
        let err = Int32(bitPattern: ov.pointee.OffsetHigh)
        return Outcome(bytes: UInt32(truncatingIfNeeded: ov.pointee.InternalHigh), flags: ov.pointee.Offset,
                       error: err == 0 ? nil : WSAError(err))
    }

    /// Blocks until the operation completes or `timeoutNanoseconds` passes (negative: forever).
    /// Returns false on timeout.
    public func wait(_ ov: UnsafeMutablePointer<WSAOVERLAPPED>, timeoutNanoseconds: Int64 = -1) -> Bool {
        let deadline = timeoutNanoseconds < 0 ? UInt64.max : csan_monotonic_ns() &+ UInt64(timeoutNanoseconds)
        self.waiters.add(1, ordering: .sequentiallyConsistent)
        defer { self.waiters.subtract(1, ordering: .sequentiallyConsistent) }
        while true {
            let cur = withUnsafeMutablePointer(to: &ov.pointee.Internal) { csan_load_seqcst_uptr($0) }
            if cur != sanOperationInProgress { return true }
            let now = csan_monotonic_ns()
            if now >= deadline { return false }
            let slice = deadline == UInt64.max ? -1 : Int64(deadline - now)
            _ = withUnsafeMutablePointer(to: &ov.pointee.Internal) {
                $0.withMemoryRebound(to: UInt32.self, capacity: 1) {
                    csan_futex_wait_u32($0, UInt32(truncatingIfNeeded: sanOperationInProgress), slice)
                }
            }
        }
    }

    /// The body of WSPGetOverlappedResult for providers whose completions need no help from the
    /// polling thread. Returns TRUE (1) or FALSE (0) and fills the out-parameters.
    public func getOverlappedResult(_ ov: UnsafeMutablePointer<WSAOVERLAPPED>?, _ lpcbTransfer: UnsafeMutablePointer<UInt32>?,
                                    wait: Bool, _ lpdwFlags: UnsafeMutablePointer<UInt32>?,
                                    _ lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard let ov else { return sanFailBool(lpErrno, .fault) }
        if wait { _ = self.wait(ov) }
        guard let result = self.outcome(ov) else { return sanFailBool(lpErrno, .ioIncomplete) }
        return Self.report(result, lpcbTransfer, lpdwFlags, lpErrno)
    }

    /// Copies an outcome to WSPGetOverlappedResult's out-parameters.
    public static func report(_ result: Outcome, _ lpcbTransfer: UnsafeMutablePointer<UInt32>?,
                              _ lpdwFlags: UnsafeMutablePointer<UInt32>?, _ lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        lpcbTransfer?.pointee = result.bytes
        lpdwFlags?.pointee = result.flags
        if let e = result.error { return sanFailBool(lpErrno, e) }
        lpErrno?.pointee = 0
        return 1
    }
}
