#if canImport(Glibc)
import Glibc
#endif
import SanCore
import SanSwitch

struct PeerError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { self.description = d }
}

/// The peer's state: one listener, one connection, one RDMA region, posted receives.
struct Peer {
    let provider: SanProvider
    var listener: SanSocket?
    var connection: SanSocket?
    var region: UnsafeMutableRawBufferPointer?
    var descriptor: SanRdmaDescriptor?
    var receives: [(SanOperation, UnsafeMutableRawBufferPointer)] = []

    init(provider: SanProvider) { self.provider = provider }

    mutating func execute(_ verb: String, _ a: [String]) throws -> String {
        switch verb {
        case "listen":
            let s = try SanSocket(provider: self.provider)
            let port = self.provider.has(.getSockName) ? 0 : Self.freePort()
            try s.bind(.loopback(port: port))
            try s.listen()
            self.listener = s
            return "\(s.localAddress?.port ?? port)"
        case "accept":
            guard let l = self.listener else { throw PeerError("not listening") }
            self.connection = try l.accept(timeoutMilliseconds: 10_000).0
            return ""
        case "connect":
            let s = try SanSocket(provider: self.provider)
            try s.connect(to: try SanAddress(try Self.arg(a, 0)))
            self.connection = s
            return ""
        case "reg-rdma":
            let size = try Self.int(a, 0), access = try Self.int(a, 1), fill = try Self.int(a, 2)
            let mem = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 4096)
            mem.initializeMemory(as: UInt8.self, repeating: UInt8(truncatingIfNeeded: fill))
            self.region = mem
            self.descriptor = try self.socket().registerRdma(mem, access: SanAccess(rawValue: UInt32(access)))
            return Self.hex(self.descriptor!.bytes)
        case "dereg-rdma":
            guard let d = self.descriptor else { throw PeerError("no region") }
            try self.socket().deregisterRdma(d)
            return ""
        case "dump":
            guard let r = self.region else { throw PeerError("no region") }
            let off = try Self.int(a, 0), len = try Self.int(a, 1)
            guard off >= 0, len >= 0, off + len <= r.count else { throw PeerError("out of range") }
            return Self.hex(Array(r[off..<(off + len)]))
        case "post-recv":
            let count = try Self.int(a, 0), size = try Self.int(a, 1)
            let mem = UnsafeMutableRawBufferPointer.allocate(byteCount: count * size, alignment: 4096)
            mem.initializeMemory(as: UInt8.self, repeating: 0)
            let reg = try self.socket().register(mem, access: .write)
            for i in 0..<count {
                let op = SanOperation()
                try self.socket().recv([reg.buffer(offset: UInt32(i * size), length: UInt32(size))], operation: op)
                self.receives.append((op, UnsafeMutableRawBufferPointer(rebasing: mem[(i * size)..<((i + 1) * size)])))
            }
            return ""
        case "wait-recv":
            var out: [String] = []
            for _ in 0..<(try Self.int(a, 0)) {
                guard !self.receives.isEmpty else { throw PeerError("no receive posted") }
                let (op, buf) = self.receives.removeFirst()
                let c = try op.wait(timeoutNanoseconds: 10_000_000_000)
                if let e = c.error { throw PeerError("receive completed with \(e)") }
                out.append(Self.hex(Array(buf.prefix(Int(c.bytes)))))
            }
            return out.joined(separator: " ")
        case "send":
            let bytes = try Self.unhex(try Self.arg(a, 0))
            let mem = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, bytes.count), alignment: 64)
            mem.copyBytes(from: bytes)
            let reg = try self.socket().register(mem, access: .read)
            let op = SanOperation()
            try self.socket().send([reg.buffer(length: UInt32(bytes.count))], operation: op)
            let c = try op.wait(timeoutNanoseconds: 10_000_000_000)
            if let e = c.error { throw PeerError("send completed with \(e)") }
            return ""
        case "close":
            try self.socket().close()
            self.connection = nil
            return ""
        default:
            throw PeerError("unknown command \(verb)")
        }
    }

    func socket() throws -> SanSocket {
        guard let c = self.connection else { throw PeerError("not connected") }
        return c
    }

    static func arg(_ a: [String], _ i: Int) throws -> String {
        guard i < a.count else { throw PeerError("missing argument \(i + 1)") }
        return a[i]
    }

    static func int(_ a: [String], _ i: Int) throws -> Int {
        guard let v = Int(try arg(a, i)) else { throw PeerError("argument \(i + 1) is not a number") }
        return v
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return bytes.isEmpty ? "-" : String(decoding: out, as: UTF8.self)
    }

    static func unhex(_ s: String) throws -> [UInt8] {
        if s == "-" { return [] }
        let u = Array(s.utf8)
        guard u.count % 2 == 0 else { throw PeerError("odd hex length") }
        func v(_ c: UInt8) throws -> UInt8 {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            default: throw PeerError("not hex")
            }
        }
        return try stride(from: 0, to: u.count, by: 2).map { try v(u[$0]) << 4 | v(u[$0 + 1]) }
    }

    /// An unused TCP port (for providers without WSPGetSockName).
    static func freePort() -> UInt16 {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { Glibc.close(fd) }
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p -> Int32 in
                _ = Glibc.bind(fd, p, len)
                return getsockname(fd, p, &len)
            }
        }
        return UInt16(bigEndian: sin.sin_port)
    }
}
