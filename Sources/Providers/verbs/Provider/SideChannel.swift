import CSanVerbsSupport
import Glibc
import SanCore
import SanProviderKit

/// A socket address copied out of the caller's `struct sockaddr` (IPv4 or IPv6 only).
struct VerbsSocketAddress: Equatable, Sendable {
    let bytes: [UInt8]

    /// Copies and checks `name`/`namelen` (WSPBind, WSPConnect). WSAEFAULT for a short buffer,
    /// WSAEAFNOSUPPORT for another family.
    static func from(_ name: UnsafePointer<sockaddr>?, length: Int32) -> Result<VerbsSocketAddress, WSAError> {
        guard let name, length >= Int32(MemoryLayout<sockaddr>.size) else { return .failure(.fault) }
        let family = Int32(name.pointee.sa_family)
        let needed: Int
        switch family {
        case AF_INET: needed = MemoryLayout<sockaddr_in>.size
        case AF_INET6: needed = MemoryLayout<sockaddr_in6>.size
        default: return .failure(.addressFamilyNotSupported)
        }
        guard Int(length) >= needed else { return .failure(.fault) }
        return .success(VerbsSocketAddress(bytes: Array(UnsafeRawBufferPointer(start: name, count: needed))))
    }

    var family: Int32 { Int32(self.bytes.withUnsafeBytes { $0.load(as: sockaddr.self).sa_family }) }

    /// Copies the address out to a caller's buffer (WSPAccept, WSPGetSockName); WSAEFAULT when it
    /// does not fit.
    func copy(to out: UnsafeMutablePointer<sockaddr>?, length: UnsafeMutablePointer<Int32>?) -> WSAError? {
        guard let out, let length else { return nil }
        guard Int(length.pointee) >= self.bytes.count else { return .fault }
        self.bytes.withUnsafeBytes { UnsafeMutableRawPointer(out).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        length.pointee = Int32(self.bytes.count)
        return nil
    }

    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        self.bytes.withUnsafeBytes { body($0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count)) }
    }
}

/// The TCP connection that carries the connection exchange (``VerbsConnectMessage``) and then
/// stays open as the SAN connection's liveness signal. Every blocking step polls a cancel
/// eventfd as well, so WSPCloseSocket aborts a connect or an accept promptly (reference §4.7).
enum VerbsSideChannel {
    /// How long the peer may take at each step of the exchange (the initiator waits this long for
    /// the listener's application to call WSPAccept).
    static let exchangeTimeoutMilliseconds: Int32 = 30_000

    /// A cancel signal: an eventfd that `cancel()` makes readable forever.
    final class Cancel: Sendable {
        let fd: Int32
        init?() {
            self.fd = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
            if self.fd < 0 { return nil }
        }
        func cancel() {
            var one: UInt64 = 1
            _ = write(self.fd, &one, 8)
        }
        deinit { close(self.fd) }
    }

    static func lastError() -> WSAError { sanWSAError(errno: errno) }

    /// Waits until `fd` has `events` or the cancel fd fires. Returns nil when ready.
    static func wait(_ fd: Int32, _ events: Int16, cancel: Cancel?, timeoutMilliseconds: Int32) -> WSAError? {
        var fds = [pollfd(fd: fd, events: events, revents: 0)]
        if let cancel { fds.append(pollfd(fd: cancel.fd, events: Int16(POLLIN), revents: 0)) }
        while true {
            let n = poll(&fds, nfds_t(fds.count), timeoutMilliseconds)
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return Self.lastError() }
            if n == 0 { return .timedOut }
            if fds.count > 1 && fds[1].revents != 0 { return .operationAborted }
            return nil
        }
    }

    static func socket(family: Int32) -> Result<Int32, WSAError> {
        let fd = Glibc.socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure(Self.lastError()) }
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return .success(fd)
    }

    /// WSPListen's TCP listener at the bound address.
    static func listen(at address: VerbsSocketAddress, backlog: Int32) -> Result<Int32, WSAError> {
        let fd: Int32
        switch Self.socket(family: address.family) {
        case .success(let x): fd = x
        case .failure(let e): return .failure(e)
        }
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = address.withSockaddr { Glibc.bind(fd, $0, $1) }
        guard bound == 0, Glibc.listen(fd, max(backlog, 1)) == 0 else {
            let e = Self.lastError()
            close(fd)
            return .failure(e)
        }
        return .success(fd)
    }

    /// Accepts one TCP connection (blocking until one arrives or `cancel` fires).
    static func accept(_ listener: Int32, cancel: Cancel) -> Result<(Int32, VerbsSocketAddress), WSAError> {
        while true {
            if let e = Self.wait(listener, Int16(POLLIN), cancel: cancel, timeoutMilliseconds: -1) { return .failure(e) }
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.accept(listener, $0, &length) }
            }
            if fd < 0 {
                if errno == EINTR || errno == EAGAIN || errno == ECONNABORTED { continue }
                return .failure(Self.lastError())
            }
            let peer = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { VerbsSocketAddress.from($0, length: Int32(length)) }
            }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            var one: Int32 = 1
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            guard case .success(let address) = peer else {
                close(fd)
                continue
            }
            return .success((fd, address))
        }
    }

    /// Connects to the SAN address (nonblocking connect + poll, so `cancel` interrupts it).
    static func connect(to address: VerbsSocketAddress, cancel: Cancel) -> Result<Int32, WSAError> {
        let fd: Int32
        switch Self.socket(family: address.family) {
        case .success(let x): fd = x
        case .failure(let e): return .failure(e)
        }
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        let rc = address.withSockaddr { Glibc.connect(fd, $0, $1) }
        if rc != 0 && errno != EINPROGRESS {
            let e = Self.lastError()
            close(fd)
            return .failure(e)
        }
        if rc != 0 {
            if let e = Self.wait(fd, Int16(POLLOUT), cancel: cancel, timeoutMilliseconds: Self.exchangeTimeoutMilliseconds) {
                close(fd)
                return .failure(e)
            }
            var soError: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &length)
            if soError != 0 {
                close(fd)
                return .failure(sanWSAError(errno: soError))
            }
        }
        _ = fcntl(fd, F_SETFL, flags)
        return .success(fd)
    }

    static func send(_ message: VerbsConnectMessage, on fd: Int32, cancel: Cancel?) -> WSAError? {
        let bytes = message.encoded()
        var sent = 0
        while sent < bytes.count {
            if let e = Self.wait(fd, Int16(POLLOUT), cancel: cancel, timeoutMilliseconds: Self.exchangeTimeoutMilliseconds) {
                return e
            }
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            if n <= 0 { return n == 0 ? .connectionReset : Self.lastError() }
            sent += n
        }
        return nil
    }

    /// Reads one message: the header first (which bounds the length), then the rest. A peer that
    /// closes, sends garbage or stalls gets an error, never a hang or a crash.
    static func receive(on fd: Int32, cancel: Cancel?,
                        timeoutMilliseconds: Int32 = Self.exchangeTimeoutMilliseconds) -> Result<VerbsConnectMessage, WSAError> {
        var bytes: [UInt8] = []
        switch Self.read(fd, count: VerbsConnectMessage.headerSize, into: &bytes, cancel: cancel,
                         timeoutMilliseconds: timeoutMilliseconds) {
        case .some(let e): return .failure(e)
        case .none: break
        }
        let total: Int
        switch VerbsConnectMessage.messageLength(header: bytes) {
        case .success(let n): total = n
        case .failure: return .failure(.connectionAborted)
        }
        if let e = Self.read(fd, count: total - bytes.count, into: &bytes, cancel: cancel,
                             timeoutMilliseconds: timeoutMilliseconds) {
            return .failure(e)
        }
        switch VerbsConnectMessage.decode(bytes) {
        case .success(let m): return .success(m)
        case .failure: return .failure(.connectionAborted)
        }
    }

    private static func read(_ fd: Int32, count: Int, into bytes: inout [UInt8], cancel: Cancel?,
                             timeoutMilliseconds: Int32) -> WSAError? {
        var chunk = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            if let e = Self.wait(fd, Int16(POLLIN), cancel: cancel, timeoutMilliseconds: timeoutMilliseconds) { return e }
            let n = chunk.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress! + got, count - got, 0) }
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            if n == 0 { return .connectionReset }
            if n < 0 { return Self.lastError() }
            got += n
        }
        bytes += chunk
        return nil
    }

    /// The local or peer address of a TCP socket.
    static func address(of fd: Int32, peer: Bool) -> VerbsSocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { peer ? getpeername(fd, $0, &length) : getsockname(fd, $0, &length) }
        }
        guard rc == 0 else { return nil }
        return withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                if case .success(let a) = VerbsSocketAddress.from($0, length: Int32(length)) { return a }
                return nil
            }
        }
    }
}
