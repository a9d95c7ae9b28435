import CSanSupport
import SanSwitch
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A kernel TCP socket carrying coordinator frames (never the SAN backend: the coordinator must
/// not depend on what is being replayed). Unsafe code: sockaddr handling.
final class WireSocket: @unchecked Sendable {
    let fd: Int32
    /// Frames from several threads go out whole.
    private let sendLock = Mutex(0)

    init(fd: Int32) { self.fd = fd }

    deinit { Glibc.close(self.fd) }

    func shutdown() { _ = Glibc.shutdown(self.fd, Int32(SHUT_RDWR)) }

    /// Parses `HOST:PORT` as the switch parses addresses (numeric IPv4/IPv6, `[v6]:port`, a name,
    /// or `PORT` for loopback); `:PORT` means every interface.
    static func address(_ text: String) throws(ReplayError) -> [UInt8] {
        let spec = text.hasPrefix(":") ? "0.0.0.0" + text : text
        guard let a = try? SanAddress(spec) else {
            throw .usage("cannot read or resolve the coordinator address '\(text)' (HOST:PORT)")
        }
        return a.bytes
    }

    /// Connects, retrying until `timeoutNs` (the serving process may start a moment later).
    static func connect(_ text: String, timeoutNs: UInt64) throws(ReplayError) -> WireSocket {
        let addr = try Self.address(text)
        let deadline = csan_monotonic_ns() &+ timeoutNs
        var last = ""
        while true {
            let fd = Glibc.socket(Int32(addr[0]) | Int32(addr[1]) << 8, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw .coordinator("socket: \(String(cString: strerror(errno)))") }
            let rc = addr.withUnsafeBytes { Glibc.connect(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count)) }
            if rc == 0 {
                var one: Int32 = 1
                setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(4))
                return WireSocket(fd: fd)
            }
            last = String(cString: strerror(errno))
            Glibc.close(fd)
            if csan_monotonic_ns() >= deadline { throw .coordinator("cannot connect to \(text): \(last)") }
            usleep(50_000)
        }
    }

    /// Listens on `text` (port 0: any free port).
    static func listen(_ text: String) throws(ReplayError) -> WireSocket {
        let addr = try Self.address(text)
        let fd = Glibc.socket(Int32(addr[0]) | Int32(addr[1]) << 8, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw .coordinator("socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(4))
        let ok = addr.withUnsafeBytes { Glibc.bind(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count)) } == 0
            && Glibc.listen(fd, 64) == 0
        guard ok else {
            let e = String(cString: strerror(errno))
            Glibc.close(fd)
            throw .coordinator("cannot listen on \(text): \(e)")
        }
        return WireSocket(fd: fd)
    }

    /// The local port (after listen on port 0).
    var port: UInt16 {
        var ss = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &ss) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(self.fd, $0, &len) } }
        return withUnsafeBytes(of: &ss) { UInt16($0[2]) << 8 | UInt16($0[3]) }
    }

    /// This end's address (the interface peers reach this host by).
    var localAddress: [UInt8] {
        var ss = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &ss) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(self.fd, $0, &len) } }
        return withUnsafeBytes(of: &ss) { Array($0.prefix(Int(len))) }
    }

    /// Waits up to `timeoutMs` for a connection; nil on timeout.
    func accept(timeoutMs: Int32) -> WireSocket? {
        var p = pollfd(fd: self.fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, timeoutMs) == 1 else { return nil }
        let c = Glibc.accept(self.fd, nil, nil)
        guard c >= 0 else { return nil }
        var one: Int32 = 1
        setsockopt(c, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(4))
        return WireSocket(fd: c)
    }

    func send(_ m: CoordinatorMessage) -> Bool {
        let frame = m.encode()
        return self.sendLock.withLock { _ in self.sendAll(frame) }
    }

    private func sendAll(_ frame: [UInt8]) -> Bool {
        var off = 0
        while off < frame.count {
            let n = frame[off...].withUnsafeBytes { Glibc.send(self.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            off += n
        }
        return true
    }

    private func readExactly(_ n: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: n)
        var off = 0
        while off < n {
            let r = out[off...].withUnsafeMutableBytes { Glibc.recv(self.fd, $0.baseAddress, $0.count, 0) }
            if r < 0 && errno == EINTR { continue }
            if r <= 0 { return nil }
            off += r
        }
        return out
    }

    /// The next message; nil when the connection closed. Throws on a malformed frame.
    func receive() throws(CoordinatorMessage.DecodeError) -> CoordinatorMessage? {
        guard let head = self.readExactly(4) else { return nil }
        let n = Int(head[0]) | Int(head[1]) << 8 | Int(head[2]) << 16 | Int(head[3]) << 24
        guard n >= 2, n <= CoordinatorMessage.maxFrame else { throw .malformed("frame length \(n)") }
        guard let body = self.readExactly(n) else { return nil }
        return try CoordinatorMessage.decode(body)
    }
}
