#if canImport(Glibc)
import Glibc
#endif

/// A plain kernel TCP socket for the baseline: blocking, TCP_NODELAY, whole-buffer reads and
/// writes with EINTR retried.
struct RawTCPSocket {
    let fd: Int32

    init(fd: Int32) { self.fd = fd }

    /// A listener on `host` (numeric IPv4) and an ephemeral port; returns it and the port.
    static func listen(host: String = "0.0.0.0") throws(PerfError) -> (RawTCPSocket, UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw .failed("raw TCP: socket: \(Self.errorText())") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(4))
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, host, &sin.sin_addr)
        let ok = withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard ok == 0, Glibc.listen(fd, 4) == 0 else {
            let text = Self.errorText()
            _ = Glibc.close(fd)
            throw .failed("raw TCP: bind/listen on \(host): \(text)")
        }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return (RawTCPSocket(fd: fd), UInt16(bigEndian: sin.sin_port))
    }

    /// Accepts one connection, waiting at most `timeoutSeconds`.
    func accept(timeoutSeconds: Int) throws(PerfError) -> RawTCPSocket {
        var p = pollfd(fd: self.fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, Int32(timeoutSeconds * 1000)) == 1 else {
            throw .failed("raw TCP: no connection within \(timeoutSeconds) s")
        }
        let c = Glibc.accept(self.fd, nil, nil)
        guard c >= 0 else { throw .failed("raw TCP: accept: \(Self.errorText())") }
        let s = RawTCPSocket(fd: c)
        s.noDelay()
        return s
    }

    /// Connects to `address` (a sockaddr's bytes).
    static func connect(_ address: [UInt8]) throws(PerfError) -> RawTCPSocket {
        let family = Int32(address.withUnsafeBytes { $0.loadUnaligned(as: UInt16.self) })
        let fd = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw .failed("raw TCP: socket: \(Self.errorText())") }
        let rc = address.withUnsafeBytes {
            Glibc.connect(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count))
        }
        guard rc == 0 else {
            let text = Self.errorText()
            _ = Glibc.close(fd)
            throw .failed("raw TCP: connect: \(text)")
        }
        let s = RawTCPSocket(fd: fd)
        s.noDelay()
        return s
    }

    func noDelay() {
        var one: Int32 = 1
        setsockopt(self.fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(4))
    }

    /// Writes all of `buffer`.
    @inline(__always)
    func writeAll(_ buffer: UnsafeRawBufferPointer) throws(PerfError) {
        var done = 0
        while done < buffer.count {
            let n = Glibc.send(self.fd, buffer.baseAddress! + done, buffer.count - done, Int32(MSG_NOSIGNAL))
            if n < 0 {
                if errno == EINTR { continue }
                throw .failed("raw TCP: send: \(Self.errorText())")
            }
            done += n
        }
    }

    /// Reads exactly `buffer.count` bytes.
    @inline(__always)
    func readExactly(_ buffer: UnsafeMutableRawBufferPointer) throws(PerfError) {
        var done = 0
        while done < buffer.count {
            let n = Glibc.recv(self.fd, buffer.baseAddress! + done, buffer.count - done, 0)
            if n < 0 {
                if errno == EINTR { continue }
                throw .failed("raw TCP: recv: \(Self.errorText())")
            }
            if n == 0 { throw .failed("raw TCP: the peer closed the connection early") }
            done += n
        }
    }

    /// Reads and discards `total` bytes in chunks of `buffer`.
    func drain(_ total: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(PerfError) {
        var left = total
        while left > 0 {
            let n = Glibc.recv(self.fd, buffer.baseAddress!, Int(min(UInt64(buffer.count), left)), 0)
            if n < 0 {
                if errno == EINTR { continue }
                throw .failed("raw TCP: recv: \(Self.errorText())")
            }
            if n == 0 { throw .failed("raw TCP: the peer closed the connection early") }
            left -= UInt64(n)
        }
    }

    func close() { _ = Glibc.close(self.fd) }

    static func errorText() -> String { String(cString: strerror(errno)) }
}
