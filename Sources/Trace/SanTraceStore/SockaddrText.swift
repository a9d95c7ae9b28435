/// Prints a recorded Linux sockaddr (`sockaddr_in` / `sockaddr_in6`) as `1.2.3.4:80` or
/// `[::1]:80`; other families as `af<N>:<hex>`.
public enum SockaddrText {
    public static func format(_ b: UnsafeRawBufferPointer) -> String {
        guard b.count >= 2 else { return b.isEmpty ? "-" : hex(b) }
        let family = UInt16(b[0]) | UInt16(b[1]) << 8
        switch family {
        case 2 where b.count >= 8:
            let port = UInt16(b[2]) << 8 | UInt16(b[3])
            return "\(b[4]).\(b[5]).\(b[6]).\(b[7]):\(port)"
        case 10 where b.count >= 24:
            let port = UInt16(b[2]) << 8 | UInt16(b[3])
            var groups: [String] = []
            for i in 0..<8 {
                let g = UInt16(b[8 + 2 * i]) << 8 | UInt16(b[9 + 2 * i])
                groups.append(String(g, radix: 16))
            }
            return "[\(compress(groups))]:\(port)"
        default:
            return "af\(family):" + hex(UnsafeRawBufferPointer(rebasing: b[2...]))
        }
    }

    public static func format(_ bytes: [UInt8]) -> String { bytes.withUnsafeBytes { format($0) } }

    static func hex(_ b: UnsafeRawBufferPointer) -> String {
        b.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    /// RFC 5952 zero compression of the longest run of zero groups.
    static func compress(_ g: [String]) -> String {
        var best = (start: -1, len: 0)
        var i = 0
        while i < g.count {
            if g[i] == "0" {
                var j = i
                while j < g.count && g[j] == "0" { j += 1 }
                if j - i > best.len && j - i > 1 { best = (i, j - i) }
                i = j
            } else {
                i += 1
            }
        }
        guard best.start >= 0 else { return g.joined(separator: ":") }
        let head = g[..<best.start].joined(separator: ":")
        let tail = g[(best.start + best.len)...].joined(separator: ":")
        return head + "::" + tail
    }
}
