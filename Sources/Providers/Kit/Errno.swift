#if canImport(Glibc)
import Glibc
#endif
import CSanABI
import SanCore

/// Stores `error` through a caller's `lpErrno` (tolerating NULL) and returns SOCKET_ERROR, the
/// shape of every failing SPI call.
@inlinable
public func sanFail(_ lpErrno: UnsafeMutablePointer<Int32>?, _ error: WSAError) -> Int32 {
    lpErrno?.pointee = error.rawValue
    return sanSocketError
}

/// The same for calls that return a SOCKET.
@inlinable
public func sanFailSocket(_ lpErrno: UnsafeMutablePointer<Int32>?, _ error: WSAError) -> SOCKET {
    lpErrno?.pointee = error.rawValue
    return sanInvalidSocket
}

/// The same for calls that return BOOL (FALSE on failure).
@inlinable
public func sanFailBool(_ lpErrno: UnsafeMutablePointer<Int32>?, _ error: WSAError) -> Int32 {
    lpErrno?.pointee = error.rawValue
    return 0
}

/// Maps an errno from a Linux socket call to the WSA error a SAN provider reports for it.
public func sanWSAError(errno e: Int32) -> WSAError {
    switch e {
    case EINTR: return .interrupted
    case EBADF: return .notSocket
    case EACCES, EPERM: return .accessDenied
    case EFAULT: return .fault
    case EINVAL: return .invalidArgument
    case EMFILE, ENFILE: return .tooManySockets
    case EAGAIN: return .wouldBlock
    case EINPROGRESS: return .wouldBlock
    case EALREADY: return .already
    case ENOTSOCK: return .notSocket
    case EMSGSIZE: return .messageSize
    case ENOPROTOOPT: return .noProtocolOption
    case EOPNOTSUPP: return .operationNotSupported
    case EAFNOSUPPORT: return .addressFamilyNotSupported
    case EADDRINUSE: return .addressInUse
    case EADDRNOTAVAIL: return .addressNotAvailable
    case ENETDOWN: return .networkDown
    case ENETUNREACH: return .networkUnreachable
    case ENETRESET: return .networkReset
    case ECONNABORTED: return .connectionAborted
    case ECONNRESET, EPIPE: return .connectionReset
    case ENOBUFS, ENOMEM: return .noBuffers
    case EISCONN: return .isConnected
    case ENOTCONN: return .notConnected
    case ESHUTDOWN: return .shutdown
    case ETIMEDOUT: return .timedOut
    case ECONNREFUSED: return .connectionRefused
    case EHOSTDOWN: return .hostUnreachable
    case EHOSTUNREACH: return .hostUnreachable
    default: return .networkDown
    }
}
