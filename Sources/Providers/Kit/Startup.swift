import CSanABI
import SanCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The parts of WSPStartupEx every provider shares (reference §1.1): version negotiation,
/// argument checks, WSPDATA, the copied upcall table and a start count that WSPCleanup undoes.
///
/// The upcall table is read by every overlapped call of every thread: it sits behind a
/// reader-writer lock, not the `Mutex` (a priority-inheritance futex on Linux, which serialises
/// contending readers through the kernel; see SocketTable). Unsafe code: that lock, in raw memory
/// (hence `@unchecked Sendable`).
public final class ProviderStartup: @unchecked Sendable {
    private struct State {
        var starts = 0
    }
    private let state = Mutex(State())
    private let upcallsLock: UnsafeMutablePointer<pthread_rwlock_t> = {
        let p = UnsafeMutablePointer<pthread_rwlock_t>.allocate(capacity: 1)
        pthread_rwlock_init(p, nil)
        return p
    }()
    /// Guarded by `upcallsLock`.
    private var currentUpcalls: ProviderUpcalls?
    /// The provider's description, copied into WSPDATA.szDescription.
    public let providerDescription: String

    public init(description: String) { self.providerDescription = description }

    /// Validates the call and fills WSPDATA and the proc table. `table` is called once to build
    /// the proc table (NULL slots stay NULL). Returns 0 or the WSA error (WSPStartupEx reports
    /// errors as its return value, not through lpErrno).
    public func startup(version: UInt16, data: UnsafeMutablePointer<WSPDATA>?,
                        upcalls: UnsafeMutablePointer<WSPUPCALLTABLEEX>?, procTable: UnsafeMutablePointer<WSPPROC_TABLE>?,
                        table: () -> WSPPROC_TABLE) -> Int32 {
        guard let data, let procTable, let upcalls else { return WSAError.fault.rawValue }
        // Low byte major, high byte minor; 2.2 is the only version the switch asks for (reference §1.1).
        let major = version & 0xff, minor = version >> 8
        guard major > 2 || (major == 2 && minor >= 2) else { return WSAError.versionNotSupported.rawValue }
        data.pointee.wVersion = 0x0202
        data.pointee.wHighVersion = 0x0202
        Self.writeWide(self.providerDescription, into: &data.pointee.szDescription)
        let copied = ProviderUpcalls(upcalls.pointee)
        pthread_rwlock_wrlock(self.upcallsLock)
        self.currentUpcalls = copied
        pthread_rwlock_unlock(self.upcallsLock)
        self.state.withLock { $0.starts += 1 }
        procTable.pointee = table()
        return 0
    }

    /// The upcall table of the most recent WSPStartupEx.
    public var upcalls: ProviderUpcalls {
        pthread_rwlock_rdlock(self.upcallsLock)
        defer { pthread_rwlock_unlock(self.upcallsLock) }
        return self.currentUpcalls ?? ProviderUpcalls(WSPUPCALLTABLEEX())
    }

    /// WSPCleanup: one start undone. Returns false (WSANOTINITIALISED) when none is left, and
    /// calls `lastCleanup` when the count reaches zero.
    public func cleanup(lastCleanup: () -> Void) -> Bool {
        let (ok, last) = self.state.withLock { s -> (Bool, Bool) in
            guard s.starts > 0 else { return (false, false) }
            s.starts -= 1
            return (true, s.starts == 0)
        }
        if last { lastCleanup() }
        return ok
    }

    /// Copies a string as UTF-16 into a fixed WCHAR array, NUL-terminated and truncated to fit.
    public static func writeWide<T>(_ s: String, into tuple: inout T) {
        withUnsafeMutableBytes(of: &tuple) { raw in
            let units = raw.bindMemory(to: UInt16.self)
            let chars = Array(s.utf16.prefix(max(0, units.count - 1)))
            for i in 0..<units.count { units[i] = i < chars.count ? chars[i] : 0 }
        }
    }
}
