import CSanABI

extension WSAOVERLAPPED {
    /// True when the low bit of `hEvent` is set: the caller polls WSPGetOverlappedResult and the
    /// provider must not call WPUCompleteOverlappedRequest (reference §3.4).
    @inlinable public var pollsForCompletion: Bool { (UInt(bitPattern: self.hEvent) & 1) == 1 }

    /// True while `Internal` is WSS_OPERATION_IN_PROGRESS.
    @inlinable public var isPending: Bool { self.Internal == UInt(WSS_OPERATION_IN_PROGRESS) }
}

/// `INVALID_SOCKET` as a Swift value (the C macro is a cast, which Swift cannot import).
public let sanInvalidSocket: SOCKET = SOCKET.max

/// `SOCKET_ERROR`.
public let sanSocketError: Int32 = -1

/// `WSS_OPERATION_IN_PROGRESS` as the type of `WSAOVERLAPPED.Internal`.
public let sanOperationInProgress: UInt = UInt(WSS_OPERATION_IN_PROGRESS)
