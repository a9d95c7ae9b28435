import CSanABI
import SanCore

/// The switch's upcall table, copied at WSPStartupEx (the pointer's lifetime is not documented,
/// reference §1.1), with one Swift method per upcall a provider uses.
///
/// On Linux a provider signals a WSAEVENT only through ``setEvent(_:)`` / ``resetEvent(_:)``.
public struct ProviderUpcalls: @unchecked Sendable {
    public let table: WSPUPCALLTABLEEX

    public init(_ table: WSPUPCALLTABLEEX) { self.table = table }

    /// WPUCreateSocketHandle: the switch's handle for a new provider socket whose context is
    /// `context` (the provider's own SOCKET value).
    public func createSocketHandle(catalogEntry: UInt32 = 0, context: UInt) -> Result<SOCKET, WSAError> {
        guard let fn = self.table.lpWPUCreateSocketHandle else { return .failure(.invalidParameter) }
        var err: Int32 = 0
        let s = fn(catalogEntry, context, &err)
        return s == sanInvalidSocket ? .failure(WSAError(err == 0 ? WSAENOBUFS : err)) : .success(s)
    }

    /// WPUCloseSocketHandle: the last upcall for a socket (reference §4.7).
    public func closeSocketHandle(_ switchSocket: SOCKET) {
        guard let fn = self.table.lpWPUCloseSocketHandle else { return }
        var err: Int32 = 0
        _ = fn(switchSocket, &err)
    }

    /// WPUQuerySocketHandleContext.
    public func querySocketHandleContext(_ switchSocket: SOCKET) -> Result<UInt, WSAError> {
        guard let fn = self.table.lpWPUQuerySocketHandleContext else { return .failure(.invalidParameter) }
        var err: Int32 = 0
        var ctx: UInt = 0
        return fn(switchSocket, &ctx, &err) == 0 ? .success(ctx) : .failure(WSAError(err))
    }

    /// WPUSetEvent on an event the switch passed to WSPEventSelect.
    public func setEvent(_ event: WSAEVENT?) {
        guard let event, let fn = self.table.lpWPUSetEvent else { return }
        var err: Int32 = 0
        _ = fn(event, &err)
    }

    /// WPUResetEvent.
    public func resetEvent(_ event: WSAEVENT?) {
        guard let event, let fn = self.table.lpWPUResetEvent else { return }
        var err: Int32 = 0
        _ = fn(event, &err)
    }

    /// WPUCompleteOverlappedRequest (reference §3.4): reports a completion whose `hEvent` low bit
    /// is clear. The switch sets `InternalHigh` and moves `Internal` off WSS_OPERATION_IN_PROGRESS.
    public func completeOverlappedRequest(_ switchSocket: SOCKET, _ overlapped: UnsafeMutablePointer<WSAOVERLAPPED>,
                                          error: Int32, bytes: UInt32) {
        guard let fn = self.table.lpWPUCompleteOverlappedRequest else { return }
        var err: Int32 = 0
        _ = fn(switchSocket, overlapped, UInt32(bitPattern: error), bytes, &err)
    }
}
