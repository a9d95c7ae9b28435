import CSanABI
import SanCore
import SanProviderKit

/// WSPSetSockOpt and WSPGetSockOpt. The switch replays the application's TCP socket options on
/// the SAN socket (reference §4.2) and falls back to TCP if one fails, so the options a TCP
/// socket takes are accepted; they do not change the provider's transport (TCP_NODELAY on,
/// kernel buffer sizes left to autotuning), which the README's provider section says.
extension TCPProvider {
    /// Windows option numbers at SOL_SOCKET (0xffff) [MW-WS2] a switch may set.
    static let acceptedSocketOptions: Set<Int32> = [
        0x0001,  // SO_DEBUG
        0x0004,  // SO_REUSEADDR
        0x0008,  // SO_KEEPALIVE
        0x0010,  // SO_DONTROUTE
        0x0020,  // SO_BROADCAST
        0x0080,  // SO_LINGER
        0x0100,  // SO_OOBINLINE
        ~0x0080,  // SO_DONTLINGER
        ~0x0004,  // SO_EXCLUSIVEADDRUSE
        0x1001,  // SO_SNDBUF
        0x1002,  // SO_RCVBUF
        0x1003,  // SO_SNDLOWAT
        0x1004,  // SO_RCVLOWAT
        0x1005,  // SO_SNDTIMEO
        0x1006,  // SO_RCVTIMEO
        0x2002,  // SO_GROUP_PRIORITY
        0x3002,  // SO_CONDITIONAL_ACCEPT
        0x700B,  // SO_UPDATE_ACCEPT_CONTEXT
        0x7010,  // SO_UPDATE_CONNECT_CONTEXT
    ]
    /// IPPROTO_TCP (6), TCP_NODELAY (1).
    static let tcpLevel: Int32 = 6
    static let tcpNoDelay: Int32 = 1

    func setSockOpt(_ s: SOCKET, level: Int32, name: Int32, value: UnsafePointer<CChar>?, length: Int32,
                    lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard self.sockets.lookup(s) != nil else { return sanFail(lpErrno, .notSocket) }
        let known = (level == SOL_SOCKET_WSA && Self.acceptedSocketOptions.contains(name))
            || (level == Self.tcpLevel && name == Self.tcpNoDelay)
        guard known else { return sanFail(lpErrno, .noProtocolOption) }
        guard value != nil || length == 0, length >= 0 else { return sanFail(lpErrno, .fault) }
        lpErrno?.pointee = 0
        return 0
    }

    func getSockOpt(_ s: SOCKET, level: Int32, name: Int32, value: UnsafeMutablePointer<CChar>?,
                    length: UnsafeMutablePointer<Int32>?, lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard self.sockets.lookup(s) != nil else { return sanFail(lpErrno, .notSocket) }
        return self.limits.getSockOpt(level: level, name: name, value: value, length: length, lpErrno: lpErrno)
    }
}
