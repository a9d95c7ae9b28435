import CSanTCP
import Glibc

/// Every Linux call the tcp provider makes, in one place (the unsafe-pointer file of this module,
/// with CSanTCP). Each wrapper reads errno right after the call and retries EINTR where a retry is
/// always right; callers see `IOResult` or an errno value, never a raw -1.
enum IOResult: Equatable {
    /// Bytes moved (> 0), or 0 for a zero-length request.
    case done(Int)
    /// EAGAIN / EWOULDBLOCK.
    case wouldBlock
    /// The peer closed its side (read returned 0).
    case endOfStream
    /// Any other errno.
    case failed(Int32)
}

/// An errno value as an Error (only for Result; callers map it to a WSA error at once).
struct Errno: Error, Equatable {
    let code: Int32
}

enum Sys {
    // MARK: Descriptors

    static func socket(family: Int32) -> Result<Int32, Errno> {
        let fd = csan_tcp_socket(family)
        return fd >= 0 ? .success(fd) : .failure(Errno(code: Glibc.errno))
    }

    static func close(_ fd: Int32) { _ = Glibc.close(fd) }

    static func shutdown(_ fd: Int32) { _ = Glibc.shutdown(fd, Int32(SHUT_RDWR)) }

    static func setNoDelay(_ fd: Int32) { _ = csan_tcp_set_nodelay(fd) }

    static func setLingerZero(_ fd: Int32) { _ = csan_tcp_set_linger_zero(fd) }

    static func setReuseAddress(_ fd: Int32) { _ = csan_tcp_set_int_option(fd, SOL_SOCKET, SO_REUSEADDR, 1) }

    /// setsockopt of an int option; the errno on failure.
    static func setOption(_ fd: Int32, level: Int32, name: Int32, value: Int32) -> Int32? {
        csan_tcp_set_int_option(fd, level, name, value) == 0 ? nil : Glibc.errno
    }

    static func socketError(_ fd: Int32) -> Int32 { csan_tcp_socket_error(fd) }

    // MARK: Addresses

    static func bind(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: Int32) -> Int32? {
        Glibc.bind(fd, address, socklen_t(length)) == 0 ? nil : Glibc.errno
    }

    static func listen(_ fd: Int32, backlog: Int32) -> Int32? {
        Glibc.listen(fd, backlog) == 0 ? nil : Glibc.errno
    }

    /// Starts a nonblocking connect: nil when connected at once, EINPROGRESS while under way.
    static func connect(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: Int32) -> Int32? {
        while true {
            if Glibc.connect(fd, address, socklen_t(length)) == 0 { return nil }
            let e = Glibc.errno
            if e != EINTR { return e }
        }
    }

    /// accept4 (nonblocking, close-on-exec); the peer's address bytes come with it.
    static func accept(_ fd: Int32) -> Result<(Int32, [UInt8]), Errno> {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        while true {
            let s = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { csan_tcp_accept(fd, $0, &length) }
            }
            if s >= 0 {
                let bytes = withUnsafeBytes(of: &storage) { Array($0.prefix(Int(length))) }
                return .success((s, bytes))
            }
            let e = Glibc.errno
            if e != EINTR { return .failure(Errno(code: e)) }
        }
    }

    /// getsockname / getpeername as address bytes.
    static func name(_ fd: Int32, peer: Bool) -> Result<[UInt8], Errno> {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                peer ? getpeername(fd, $0, &length) : getsockname(fd, $0, &length)
            }
        }
        guard rc == 0 else { return .failure(Errno(code: Glibc.errno)) }
        return .success(withUnsafeBytes(of: &storage) { Array($0.prefix(Int(length))) })
    }

    /// "address:port" of sockaddr bytes (IPv4, IPv6), for messages.
    static func describe(address bytes: [UInt8]) -> String {
        var text = [CChar](repeating: 0, count: 64)
        let string = { String(decoding: text.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        return bytes.withUnsafeBytes { raw -> String in
            guard raw.count >= 2 else { return "an unknown address" }
            let family = Int32(raw.load(fromByteOffset: 0, as: sa_family_t.self))
            let port = UInt16(bigEndian: raw.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
            let ok: Bool
            switch family {
            case AF_INET where raw.count >= MemoryLayout<sockaddr_in>.size:
                ok = inet_ntop(AF_INET, raw.baseAddress! + 4, &text, 64) != nil
                return ok ? "\(string()):\(port)" : "an IPv4 address"
            case AF_INET6 where raw.count >= MemoryLayout<sockaddr_in6>.size:
                ok = inet_ntop(AF_INET6, raw.baseAddress! + 8, &text, 64) != nil
                return ok ? "[\(string())]:\(port)" : "an IPv6 address"
            default:
                return "an unknown address"
            }
        }
    }

    // MARK: Data

    /// One nonblocking gather write (sendmsg with MSG_NOSIGNAL | MSG_DONTWAIT).
    static func writev(_ fd: Int32, _ iov: UnsafePointer<iovec>, _ count: Int) -> IOResult {
        while true {
            let n = csan_tcp_writev(fd, iov, Int32(count))
            if n >= 0 { return .done(n) }
            let e = Glibc.errno
            if e == EINTR { continue }
            return e == EAGAIN || e == EWOULDBLOCK ? .wouldBlock : .failed(e)
        }
    }

    /// One scatter read (recvmsg): MSG_DONTWAIT, or a blocking read that sleeps until data, the
    /// end of stream or the socket's receive timeout (`.wouldBlock`) with `blocking`.
    static func readv(_ fd: Int32, _ iov: UnsafePointer<iovec>, _ count: Int, blocking: Bool = false) -> IOResult {
        while true {
            let n = csan_tcp_recvv(fd, iov, Int32(count), blocking ? 1 : 0)
            if n > 0 { return .done(n) }
            if n == 0 { return .endOfStream }
            let e = Glibc.errno
            if e == EINTR { continue }
            return e == EAGAIN || e == EWOULDBLOCK ? .wouldBlock : .failed(e)
        }
    }

    /// One read into a plain buffer.
    static func read(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int, blocking: Bool = false) -> IOResult {
        var iov = iovec(iov_base: buffer, iov_len: count)
        return self.readv(fd, &iov, 1, blocking: blocking)
    }

    /// Switches an established connection's socket to blocking mode with a receive timeout
    /// (every other call passes MSG_DONTWAIT).
    static func setBlocking(_ fd: Int32, receiveTimeoutMilliseconds: Int32) -> Bool {
        csan_tcp_set_blocking(fd, receiveTimeoutMilliseconds) == 0
    }

    /// One write from a plain buffer.
    static func write(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> IOResult {
        var iov = iovec(iov_base: UnsafeMutableRawPointer(mutating: buffer), iov_len: count)
        return self.writev(fd, &iov, 1)
    }

    /// True when the peer can send nothing more (it shut its side down, or the connection was
    /// reset or failed): everything it sent is in the socket buffer already.
    static func peerEnded(_ fd: Int32) -> Bool { csan_tcp_peer_ended(fd) == 1 }

    /// poll(2) on one descriptor: the revents, 0 on timeout (EINTR counts as a timeout).
    static func poll(_ fd: Int32, events: Int16, timeoutMilliseconds: Int32) -> Int16 {
        let r = csan_tcp_poll_one(fd, events, timeoutMilliseconds)
        return r > 0 ? Int16(truncatingIfNeeded: r) : 0
    }

    // MARK: Randomness

    /// 128 bits from getrandom(2). The kernel's pool is initialised long before any provider
    /// runs; a failure here is a broken system, so it traps instead of handing out weak keys.
    static func randomKey() -> Key128 {
        var words: (UInt64, UInt64) = (0, 0)
        var filled = 0
        withUnsafeMutableBytes(of: &words) { raw in
            while filled < 16 {
                let n = csan_tcp_getrandom(raw.baseAddress! + filled, 16 - filled)
                if n > 0 {
                    filled += n
                } else if Glibc.errno != EINTR {
                    fatalError("getrandom failed (errno \(Glibc.errno)): no key material for RDMA descriptors")
                }
            }
        }
        return Key128(low: words.0, high: words.1)
    }

    // MARK: epoll and eventfd

    static func epollCreate() -> Int32 { csan_tcp_epoll_create() }

    static func epollAdd(_ epfd: Int32, _ fd: Int32, events: UInt32, token: UInt64) -> Int32? {
        csan_tcp_epoll_ctl(epfd, CSAN_TCP_EPOLL_CTL_ADD, fd, events, token) == 0 ? nil : Glibc.errno
    }

    static func epollModify(_ epfd: Int32, _ fd: Int32, events: UInt32, token: UInt64) {
        _ = csan_tcp_epoll_ctl(epfd, CSAN_TCP_EPOLL_CTL_MOD, fd, events, token)
    }

    static func epollRemove(_ epfd: Int32, _ fd: Int32) {
        _ = csan_tcp_epoll_ctl(epfd, CSAN_TCP_EPOLL_CTL_DEL, fd, 0, 0)
    }

    /// epoll_wait with a timeout in nanoseconds (< 0: none): epoll_pwait2 where the kernel has
    /// it, else rounded up to milliseconds.
    static func epollWait(_ epfd: Int32, events: UnsafeMutablePointer<UInt32>, tokens: UnsafeMutablePointer<UInt64>,
                          max: Int32, timeoutNanoseconds: Int64) -> Int {
        let n = csan_tcp_epoll_wait_ns(epfd, events, tokens, max, timeoutNanoseconds)
        return n > 0 ? Int(n) : 0
    }

    static func eventFD() -> Int32 { csan_tcp_eventfd() }

    static func signal(eventFD fd: Int32) {
        var one: UInt64 = 1
        _ = Glibc.write(fd, &one, 8)
    }

    static func drain(eventFD fd: Int32) {
        var value: UInt64 = 0
        _ = Glibc.read(fd, &value, 8)
    }

    // MARK: Interface addresses

    /// The IPv4 and IPv6 addresses of every interface that is up (getifaddrs), as sockaddr bytes.
    static func interfaceAddresses() -> [[UInt8]] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(first) }
        var out: [[UInt8]] = []
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard entry.pointee.ifa_flags & CSAN_TCP_IFF_UP != 0, let addr = entry.pointee.ifa_addr else { continue }
            switch Int32(addr.pointee.sa_family) {
            case AF_INET:
                out.append(Array(UnsafeRawBufferPointer(start: addr, count: MemoryLayout<sockaddr_in>.size)))
            case AF_INET6:
                out.append(Array(UnsafeRawBufferPointer(start: addr, count: MemoryLayout<sockaddr_in6>.size)))
            default:
                continue
            }
        }
        return out
    }
}

/// A file descriptor with one owner: closed when the last reference goes, so no thread can ever
/// use a number the kernel has handed to someone else.
final class OwnedFD: Sendable {
    let raw: Int32
    init(_ raw: Int32) { self.raw = raw }
    deinit { Sys.close(self.raw) }
}
