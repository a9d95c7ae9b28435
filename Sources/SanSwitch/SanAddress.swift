#if canImport(Glibc)
import Glibc
#endif
import CSanABI

/// An IPv4 or IPv6 socket address (Linux `sockaddr_in` / `sockaddr_in6`, as the port's ABI uses).
public struct SanAddress: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// The sockaddr bytes.
    public var bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// Parses `HOST:PORT`, `[IPV6]:PORT` or `PORT` (loopback). HOST is a numeric address or a
    /// name resolved with getaddrinfo.
    public init(_ text: String) throws(SanSwitchError) {
        var host = "127.0.0.1"
        var portText = text
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = String(text[text.index(after: text.startIndex)..<close])
            portText = String(text[text.index(after: close)...].dropFirst())
        } else if let colon = text.lastIndex(of: ":") {
            host = String(text[..<colon])
            portText = String(text[text.index(after: colon)...])
        }
        guard let port = UInt16(portText) else { throw .badAddress(text) }
        guard let a = Self.resolve(host: host, port: port) else { throw .badAddress(text) }
        self = a
    }

    /// An IPv4 address from dotted text and a port.
    public static func ipv4(_ host: String, port: UInt16) -> SanAddress? {
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &sin.sin_addr) == 1 else { return nil }
        return SanAddress(bytes: withUnsafeBytes(of: &sin) { Array($0) })
    }

    /// 127.0.0.1:port.
    public static func loopback(port: UInt16 = 0) -> SanAddress { .ipv4("127.0.0.1", port: port)! }

    static func resolve(host: String, port: UInt16) -> SanAddress? {
        if let v4 = Self.ipv4(host, port: port) { return v4 }
        var sin6 = sockaddr_in6()
        sin6.sin6_family = sa_family_t(AF_INET6)
        sin6.sin6_port = port.bigEndian
        if inet_pton(AF_INET6, host, &sin6.sin6_addr) == 1 {
            return SanAddress(bytes: withUnsafeBytes(of: &sin6) { Array($0) })
        }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>? = nil
        guard getaddrinfo(host, nil, &hints, &res) == 0, let first = res else { return nil }
        defer { freeaddrinfo(res) }
        var a = SanAddress(bytes: Array(UnsafeRawBufferPointer(start: first.pointee.ai_addr,
                                                                count: Int(first.pointee.ai_addrlen))))
        a.port = port
        return a
    }

    /// AF_INET or AF_INET6.
    public var family: Int32 { self.bytes.count >= 2 ? Int32(UInt16(self.bytes[0]) | UInt16(self.bytes[1]) << 8) : 0 }

    /// The port, in host order.
    public var port: UInt16 {
        get { self.bytes.count >= 4 ? UInt16(self.bytes[2]) << 8 | UInt16(self.bytes[3]) : 0 }
        set {
            guard self.bytes.count >= 4 else { return }
            self.bytes[2] = UInt8(newValue >> 8)
            self.bytes[3] = UInt8(newValue & 0xff)
        }
    }

    /// Calls `body` with a sockaddr pointer and its length.
    public func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, Int32) throws -> R) rethrows -> R {
        try self.bytes.withUnsafeBytes { raw in
            try body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), Int32(raw.count))
        }
    }

    /// The text inet_ntop wrote into `buffer` (NUL-terminated).
    private static func string(_ buffer: [CChar]) -> String {
        buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    public var description: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        return self.bytes.withUnsafeBytes { raw -> String in
            switch self.family {
            case AF_INET where raw.count >= MemoryLayout<sockaddr_in>.size:
                var a = raw.loadUnaligned(as: sockaddr_in.self).sin_addr
                inet_ntop(AF_INET, &a, &text, socklen_t(text.count))
                return Self.string(text) + ":\(self.port)"
            case AF_INET6 where raw.count >= MemoryLayout<sockaddr_in6>.size:
                var a = raw.loadUnaligned(as: sockaddr_in6.self).sin6_addr
                inet_ntop(AF_INET6, &a, &text, socklen_t(text.count))
                return "[" + Self.string(text) + "]:\(self.port)"
            default:
                return "<address family \(self.family), \(raw.count) bytes>"
            }
        }
    }
}
