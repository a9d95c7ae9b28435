#if canImport(Glibc)
import Glibc
#endif

/// A recorded socket address (Linux `sockaddr_in` / `sockaddr_in6` bytes), parsed defensively.
struct RecordedAddress: Equatable, Hashable, CustomStringConvertible {
    var family: Int32
    /// 4 or 16 bytes.
    var ip: [UInt8]
    var port: UInt16

    init?(_ bytes: [UInt8]) {
        guard bytes.count >= 8 else { return nil }
        let family = Int32(UInt16(bytes[0]) | UInt16(bytes[1]) << 8)
        self.family = family
        self.port = UInt16(bytes[2]) << 8 | UInt16(bytes[3])
        if family == AF_INET {
            self.ip = Array(bytes[4..<8])
        } else if family == AF_INET6, bytes.count >= 24 {
            self.ip = Array(bytes[8..<24])
        } else {
            return nil
        }
    }

    init(family: Int32, ip: [UInt8], port: UInt16) {
        self.family = family
        self.ip = ip
        self.port = port
    }

    var isWildcard: Bool { self.ip.allSatisfy { $0 == 0 } }

    var isLoopback: Bool {
        if self.family == AF_INET { return self.ip.first == 127 }
        return self.ip.dropLast().allSatisfy { $0 == 0 } && self.ip.last == 1
    }

    /// True when a connection to `target` reaches a listener bound to `self`.
    func accepts(_ target: RecordedAddress) -> Bool {
        guard self.port == target.port, self.port != 0 else { return false }
        return self.isWildcard || self.ip == target.ip || (self.isLoopback && target.isLoopback)
    }

    /// The sockaddr bytes.
    var bytes: [UInt8] {
        if self.family == AF_INET {
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = self.port.bigEndian
            withUnsafeMutableBytes(of: &sin.sin_addr) { $0.copyBytes(from: self.ip.prefix(4)) }
            return withUnsafeBytes(of: &sin) { Array($0) }
        }
        var sin6 = sockaddr_in6()
        sin6.sin6_family = sa_family_t(AF_INET6)
        sin6.sin6_port = self.port.bigEndian
        withUnsafeMutableBytes(of: &sin6.sin6_addr) { $0.copyBytes(from: self.ip.prefix(16)) }
        return withUnsafeBytes(of: &sin6) { Array($0) }
    }

    /// Loopback of the same family.
    static func loopback(family: Int32, port: UInt16) -> RecordedAddress {
        if family == AF_INET6 { return RecordedAddress(family: family, ip: Array(repeating: 0, count: 15) + [1], port: port) }
        return RecordedAddress(family: AF_INET, ip: [127, 0, 0, 1], port: port)
    }

    static func wildcard(family: Int32, port: UInt16) -> RecordedAddress {
        RecordedAddress(family: family, ip: Array(repeating: 0, count: family == AF_INET6 ? 16 : 4), port: port)
    }

    var description: String {
        var text = [CChar](repeating: 0, count: 64)
        var raw = self.ip
        _ = inet_ntop(self.family, &raw, &text, socklen_t(text.count))
        let host = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return self.family == AF_INET6 ? "[\(host)]:\(self.port)" : "\(host):\(self.port)"
    }
}
