import CSanABI
import Glibc
import SanCore
import SanProviderKit

/// WSPSetSockOpt and WSPGetSockOpt. The switch replays the application's TCP socket options on
/// the SAN socket right after WSPBind (reference §4.2) and falls back to TCP if one fails, so
/// every option a TCP socket takes is accepted. Two describe the connection itself and are
/// applied to the provider's kernel socket (an accepted socket inherits them from its
/// listener): SO_KEEPALIVE and SO_DONTROUTE. The others describe the application's byte
/// stream, which the switch implements on top of the SAN, or have no Linux meaning; they are
/// accepted and ignored, each for the reason given in ``ignoredSocketOptions`` (Docs/TCPProvider.md §1).
extension TCPProvider {
    /// Windows option numbers at SOL_SOCKET (0xffff) [MW-WS2] → the Linux option set on the
    /// provider's socket.
    static let appliedSocketOptions: [Int32: Int32] = [
        0x0008: SO_KEEPALIVE,  // probe an idle connection: a dead peer is noticed
        0x0010: SO_DONTROUTE,  // the peer must be on a directly connected network
    ]

    /// Accepted and ignored, and why.
    static let ignoredSocketOptions: [Int32: String] = [
        0x0001: "SO_DEBUG: Linux needs CAP_NET_ADMIN; it only enables kernel tracing",
        0x0004: "SO_REUSEADDR: always on (a listener rebinds while old connections sit in TIME_WAIT); "
            + "the Windows meaning, taking over a port in use, does not exist on Linux",
        0x0020: "SO_BROADCAST: datagram sockets only",
        0x0080: "SO_LINGER: WSPCloseSocket never blocks and always ends the connection in order (CLOSE, FIN); "
            + "lingering over unsent data is the switch's (it owns the stream's send buffer)",
        0x0100: "SO_OOBINLINE: the SAN carries no urgent data",
        ~0x0080: "SO_DONTLINGER: as SO_LINGER",
        ~0x0004: "SO_EXCLUSIVEADDRUSE: Linux never lets another socket bind a port in use without SO_REUSEPORT",
        0x1001: "SO_SNDBUF: sizes the application stream's buffering, which the switch does; on the transport "
            + "socket it would turn off the kernel's autotuning (and 0, common with overlapped I/O, would stall it)",
        0x1002: "SO_RCVBUF: as SO_SNDBUF",
        0x1003: "SO_SNDLOWAT: Linux cannot change it",
        0x1004: "SO_RCVLOWAT: would make the provider's reads wait for that many bytes; frames are read as they come",
        0x1005: "SO_SNDTIMEO: applies to blocking send calls; the SAN data path is overlapped",
        0x1006: "SO_RCVTIMEO: as SO_SNDTIMEO (the provider sets its own on the socket)",
        0x2002: "SO_GROUP_PRIORITY: no socket groups",
        0x3002: "SO_CONDITIONAL_ACCEPT: WSPAccept always runs the condition function (reference §4.2)",
        0x700B: "SO_UPDATE_ACCEPT_CONTEXT: AcceptEx context, no meaning here",
        0x7010: "SO_UPDATE_CONNECT_CONTEXT: ConnectEx context, no meaning here",
    ]
    /// IPPROTO_TCP (6), TCP_NODELAY (1): accepted and ignored — the provider writes whole frames
    /// and always runs with TCP_NODELAY on; batching small sends is the switch's business.
    static let tcpLevel: Int32 = 6
    static let tcpNoDelay: Int32 = 1

    func setSockOpt(_ s: SOCKET, level: Int32, name: Int32, value: UnsafePointer<CChar>?, length: Int32,
                    lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard let sock = self.sockets.lookup(s) else { return sanFail(lpErrno, .notSocket) }
        guard value != nil || length == 0, length >= 0 else { return sanFail(lpErrno, .fault) }
        if level == SOL_SOCKET_WSA, let linux = Self.appliedSocketOptions[name] {
            // A BOOL: any nonzero byte of its (up to) four means TRUE.
            guard let value, length >= 1 else { return sanFail(lpErrno, .fault) }
            let on = UnsafeRawBufferPointer(start: value, count: Int(min(length, 4))).contains { $0 != 0 }
            if let fd = sock.fd, let e = Sys.setOption(fd, level: SOL_SOCKET, name: linux, value: on ? 1 : 0) {
                return sanFail(lpErrno, sanWSAError(errno: e))
            }
            lpErrno?.pointee = 0
            return 0
        }
        let known = (level == SOL_SOCKET_WSA && Self.ignoredSocketOptions[name] != nil)
            || (level == Self.tcpLevel && name == Self.tcpNoDelay)
        guard known else { return sanFail(lpErrno, .noProtocolOption) }
        lpErrno?.pointee = 0
        return 0
    }

    func getSockOpt(_ s: SOCKET, level: Int32, name: Int32, value: UnsafeMutablePointer<CChar>?,
                    length: UnsafeMutablePointer<Int32>?, lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard self.sockets.lookup(s) != nil else { return sanFail(lpErrno, .notSocket) }
        return self.limits.getSockOpt(level: level, name: name, value: value, length: length, lpErrno: lpErrno)
    }
}
