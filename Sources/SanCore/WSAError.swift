import CSanABI

/// A Windows Sockets error number (`WSAE*`, `WSA_*`), as providers report it through `lpErrno`,
/// `WSAOVERLAPPED.OffsetHigh` and the completion upcall.
///
/// These are Windows numbers, not errno values (reference §2): translate at the boundary only,
/// with ``init(errno:)``.
@frozen
public struct WSAError: RawRepresentable, Error, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int32
    @inlinable public init(rawValue: Int32) { self.rawValue = rawValue }
    @inlinable public init(_ rawValue: Int32) { self.rawValue = rawValue }

    /// `WSA_INVALID_HANDLE` (6)
    public static let invalidHandle = WSAError(WSA_INVALID_HANDLE)
    /// `WSA_NOT_ENOUGH_MEMORY` (8)
    public static let notEnoughMemory = WSAError(WSA_NOT_ENOUGH_MEMORY)
    /// `WSA_INVALID_PARAMETER` (87)
    public static let invalidParameter = WSAError(WSA_INVALID_PARAMETER)
    /// `WSA_OPERATION_ABORTED` (995): the operation was cancelled by a close or a flush.
    public static let operationAborted = WSAError(WSA_OPERATION_ABORTED)
    /// `WSA_IO_INCOMPLETE` (996): `WSPGetOverlappedResult(fWait: FALSE)` on a pending operation.
    public static let ioIncomplete = WSAError(WSA_IO_INCOMPLETE)
    /// `WSA_IO_PENDING` (997): an overlapped operation was started and will complete later.
    public static let ioPending = WSAError(WSA_IO_PENDING)
    /// `WSAEINTR` (10004)
    public static let interrupted = WSAError(WSAEINTR)
    /// `WSAEBADF` (10009)
    public static let badFile = WSAError(WSAEBADF)
    /// `WSAEACCES` (10013)
    public static let accessDenied = WSAError(WSAEACCES)
    /// `WSAEFAULT` (10014)
    public static let fault = WSAError(WSAEFAULT)
    /// `WSAEINVAL` (10022)
    public static let invalidArgument = WSAError(WSAEINVAL)
    /// `WSAEMFILE` (10024)
    public static let tooManySockets = WSAError(WSAEMFILE)
    /// `WSAEWOULDBLOCK` (10035)
    public static let wouldBlock = WSAError(WSAEWOULDBLOCK)
    /// `WSAEINPROGRESS` (10036)
    public static let inProgress = WSAError(WSAEINPROGRESS)
    /// `WSAEALREADY` (10037)
    public static let already = WSAError(WSAEALREADY)
    /// `WSAENOTSOCK` (10038)
    public static let notSocket = WSAError(WSAENOTSOCK)
    /// `WSAEMSGSIZE` (10040)
    public static let messageSize = WSAError(WSAEMSGSIZE)
    /// `WSAENOPROTOOPT` (10042)
    public static let noProtocolOption = WSAError(WSAENOPROTOOPT)
    /// `WSAEOPNOTSUPP` (10045)
    public static let operationNotSupported = WSAError(WSAEOPNOTSUPP)
    /// `WSAEAFNOSUPPORT` (10047)
    public static let addressFamilyNotSupported = WSAError(WSAEAFNOSUPPORT)
    /// `WSAEADDRINUSE` (10048)
    public static let addressInUse = WSAError(WSAEADDRINUSE)
    /// `WSAEADDRNOTAVAIL` (10049)
    public static let addressNotAvailable = WSAError(WSAEADDRNOTAVAIL)
    /// `WSAENETDOWN` (10050)
    public static let networkDown = WSAError(WSAENETDOWN)
    /// `WSAENETUNREACH` (10051)
    public static let networkUnreachable = WSAError(WSAENETUNREACH)
    /// `WSAENETRESET` (10052)
    public static let networkReset = WSAError(WSAENETRESET)
    /// `WSAECONNABORTED` (10053): the connection failed locally (e.g. a remote access error).
    public static let connectionAborted = WSAError(WSAECONNABORTED)
    /// `WSAECONNRESET` (10054): the peer closed or was lost.
    public static let connectionReset = WSAError(WSAECONNRESET)
    /// `WSAENOBUFS` (10055)
    public static let noBuffers = WSAError(WSAENOBUFS)
    /// `WSAEISCONN` (10056)
    public static let isConnected = WSAError(WSAEISCONN)
    /// `WSAENOTCONN` (10057)
    public static let notConnected = WSAError(WSAENOTCONN)
    /// `WSAESHUTDOWN` (10058)
    public static let shutdown = WSAError(WSAESHUTDOWN)
    /// `WSAETIMEDOUT` (10060)
    public static let timedOut = WSAError(WSAETIMEDOUT)
    /// `WSAECONNREFUSED` (10061)
    public static let connectionRefused = WSAError(WSAECONNREFUSED)
    /// `WSAEHOSTUNREACH` (10065)
    public static let hostUnreachable = WSAError(WSAEHOSTUNREACH)
    /// `WSAEPROCLIM` (10067)
    public static let processLimit = WSAError(WSAEPROCLIM)
    /// `WSASYSNOTREADY` (10091)
    public static let systemNotReady = WSAError(WSASYSNOTREADY)
    /// `WSAVERNOTSUPPORTED` (10092)
    public static let versionNotSupported = WSAError(WSAVERNOTSUPPORTED)
    /// `WSANOTINITIALISED` (10093)
    public static let notInitialised = WSAError(WSANOTINITIALISED)
    /// `WSAEDISCON` (10101)
    public static let disconnected = WSAError(WSAEDISCON)

    /// The C name (`"WSAECONNRESET"`), or the number for a code this table does not know.
    public var name: String { Self.names[self.rawValue] ?? "WSA error \(self.rawValue)" }

    public var description: String { self.rawValue == 0 ? "success" : "\(self.name) (\(self.rawValue))" }

    /// Looks a code up by its C name (`"WSAECONNRESET"`) or its number.
    public init?(name: String) {
        if let n = Int32(name) {
            self.init(n)
            return
        }
        guard let hit = Self.names.first(where: { $0.value == name }) else { return nil }
        self.init(hit.key)
    }

    /// Every named code, for help texts and reverse look-ups.
    public static let names: [Int32: String] = [
        0: "0",
        WSA_INVALID_HANDLE: "WSA_INVALID_HANDLE", WSA_NOT_ENOUGH_MEMORY: "WSA_NOT_ENOUGH_MEMORY",
        WSA_INVALID_PARAMETER: "WSA_INVALID_PARAMETER", WSA_OPERATION_ABORTED: "WSA_OPERATION_ABORTED",
        WSA_IO_INCOMPLETE: "WSA_IO_INCOMPLETE", WSA_IO_PENDING: "WSA_IO_PENDING",
        WSAEINTR: "WSAEINTR", WSAEBADF: "WSAEBADF", WSAEACCES: "WSAEACCES", WSAEFAULT: "WSAEFAULT",
        WSAEINVAL: "WSAEINVAL", WSAEMFILE: "WSAEMFILE", WSAEWOULDBLOCK: "WSAEWOULDBLOCK",
        WSAEINPROGRESS: "WSAEINPROGRESS", WSAEALREADY: "WSAEALREADY", WSAENOTSOCK: "WSAENOTSOCK",
        WSAEDESTADDRREQ: "WSAEDESTADDRREQ", WSAEMSGSIZE: "WSAEMSGSIZE", WSAEPROTOTYPE: "WSAEPROTOTYPE",
        WSAENOPROTOOPT: "WSAENOPROTOOPT", WSAEPROTONOSUPPORT: "WSAEPROTONOSUPPORT",
        WSAESOCKTNOSUPPORT: "WSAESOCKTNOSUPPORT", WSAEOPNOTSUPP: "WSAEOPNOTSUPP",
        WSAEPFNOSUPPORT: "WSAEPFNOSUPPORT", WSAEAFNOSUPPORT: "WSAEAFNOSUPPORT",
        WSAEADDRINUSE: "WSAEADDRINUSE", WSAEADDRNOTAVAIL: "WSAEADDRNOTAVAIL", WSAENETDOWN: "WSAENETDOWN",
        WSAENETUNREACH: "WSAENETUNREACH", WSAENETRESET: "WSAENETRESET", WSAECONNABORTED: "WSAECONNABORTED",
        WSAECONNRESET: "WSAECONNRESET", WSAENOBUFS: "WSAENOBUFS", WSAEISCONN: "WSAEISCONN",
        WSAENOTCONN: "WSAENOTCONN", WSAESHUTDOWN: "WSAESHUTDOWN", WSAETIMEDOUT: "WSAETIMEDOUT",
        WSAECONNREFUSED: "WSAECONNREFUSED", WSAEHOSTDOWN: "WSAEHOSTDOWN", WSAEHOSTUNREACH: "WSAEHOSTUNREACH",
        WSAEPROCLIM: "WSAEPROCLIM", WSASYSNOTREADY: "WSASYSNOTREADY", WSAVERNOTSUPPORTED: "WSAVERNOTSUPPORTED",
        WSANOTINITIALISED: "WSANOTINITIALISED", WSAEDISCON: "WSAEDISCON",
    ]

    /// Pattern matching against a raw code: `case WSAError.ioPending: …`.
    @inlinable public static func ~= (pattern: WSAError, value: Int32) -> Bool { pattern.rawValue == value }
}
