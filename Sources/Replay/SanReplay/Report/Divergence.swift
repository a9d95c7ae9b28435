import SanTraceFormat

/// One difference between the recording and the replay.
public struct Divergence: Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// A call's return value or WSA error.
        case result
        /// A byte count (call or completion).
        case bytes
        /// A completion's status.
        case completion
        /// Bytes that landed differ from what was sent, written or read.
        case data
        /// Network events the recording saw and the replay did not.
        case events
        /// The replay waited past the timeout.
        case stuck
        /// Another endpoint (or the coordinator) stopped the replay.
        case aborted
    }

    public var kind: Kind
    /// Endpoint (trace) name.
    public var endpoint: String
    /// Recorded thread capture id, its sequence number, the global sequence of the ENTER.
    public var thread: UInt32
    public var threadSeq: UInt64
    public var seq: UInt64
    public var function: String
    /// Overlapped capture id (0 none).
    public var overlapped: UInt64
    public var recorded: String
    public var live: String
    /// More about where: the operation waited for, the data source, the preceding calls.
    public var context: [String]

    public var description: String {
        var s = "\(self.kind.rawValue) divergence in \(self.endpoint), thread \(self.thread), thread seq \(self.threadSeq) (event \(self.seq)): \(self.function)"
        if self.overlapped != 0 { s += " (overlapped #\(self.overlapped))" }
        s += "\n  recorded: \(self.recorded)\n  live:     \(self.live)"
        for c in self.context { s += "\n  \(c)" }
        return s
    }
}

/// A WSA error or success, as text.
func resultText(ret: Int64, err: Int32) -> String {
    if err == 0 { return "ret \(ret)" }
    return "ret \(ret), error \(wsaName(err))"
}

func wsaName(_ e: Int32) -> String {
    let names: [Int32: String] = [
        0: "0", 6: "WSA_INVALID_HANDLE", 8: "WSA_NOT_ENOUGH_MEMORY", 87: "WSA_INVALID_PARAMETER",
        995: "WSA_OPERATION_ABORTED", 996: "WSA_IO_INCOMPLETE", 997: "WSA_IO_PENDING", 10004: "WSAEINTR",
        10014: "WSAEFAULT", 10022: "WSAEINVAL", 10035: "WSAEWOULDBLOCK", 10036: "WSAEINPROGRESS", 10038: "WSAENOTSOCK",
        10040: "WSAEMSGSIZE", 10042: "WSAENOPROTOOPT", 10045: "WSAEOPNOTSUPP", 10048: "WSAEADDRINUSE",
        10049: "WSAEADDRNOTAVAIL", 10050: "WSAENETDOWN", 10052: "WSAENETRESET", 10053: "WSAECONNABORTED",
        10054: "WSAECONNRESET", 10055: "WSAENOBUFS", 10056: "WSAEISCONN", 10057: "WSAENOTCONN", 10058: "WSAESHUTDOWN",
        10060: "WSAETIMEDOUT", 10061: "WSAECONNREFUSED", 10065: "WSAEHOSTUNREACH", 10091: "WSASYSNOTREADY",
        10092: "WSAVERNOTSUPPORTED", 10093: "WSANOTINITIALISED", 10101: "WSAEDISCON",
    ]
    return names[e].map { e == 0 ? "none" : "\($0) (\(e))" } ?? "\(e)"
}
