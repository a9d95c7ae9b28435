/// The coordinator protocol (Docs/Replay.md §Coordinator): length-prefixed frames over TCP,
/// versioned, every field bounds-checked on decode.
///
///     frame   = u32le length (2 … 65536) | body
///     body    = u8 version (1) | u8 type | fields
///     str     = u16le length (≤ 4096) | UTF-8 bytes      bytes = u16le length (≤ 4096) | bytes
///
///     1 HELLO     str endpoint                      client → server, first frame
///     2 WELCOME   u8 status (0 ok) | str message    server → client
///     3 PUT       str key | bytes value             publish (the first value of a key wins)
///     4 GET       u32 request | str key             the server answers VALUE once the key exists
///     5 VALUE     u32 request | bytes value
///     6 ABORT     str reason                        either way; the server relays it to all
///     7 FINISHED  str endpoint | u8 diverged | str summary
enum CoordinatorMessage: Equatable {
    case hello(endpoint: String)
    case welcome(status: UInt8, message: String)
    case put(key: String, value: [UInt8])
    case get(request: UInt32, key: String)
    case value(request: UInt32, value: [UInt8])
    case abort(reason: String)
    case finished(endpoint: String, diverged: Bool, summary: String)

    static let version: UInt8 = 1
    static let maxFrame = 65536
    static let maxField = 4096

    /// The frame (length prefix included).
    func encode() -> [UInt8] {
        var b: [UInt8] = [Self.version]
        func str(_ s: String) { bytes(Array(s.utf8)) }
        func bytes(_ v: [UInt8]) {
            let v = Array(v.prefix(Self.maxField))
            b += [UInt8(v.count & 0xff), UInt8(v.count >> 8)] + v
        }
        func u32(_ v: UInt32) { b += [UInt8(v & 0xff), UInt8((v >> 8) & 0xff), UInt8((v >> 16) & 0xff), UInt8(v >> 24)] }
        switch self {
        case .hello(let e): b.append(1); str(e)
        case .welcome(let s, let m): b.append(2); b.append(s); str(m)
        case .put(let k, let v): b.append(3); str(k); bytes(v)
        case .get(let r, let k): b.append(4); u32(r); str(k)
        case .value(let r, let v): b.append(5); u32(r); bytes(v)
        case .abort(let r): b.append(6); str(r)
        case .finished(let e, let d, let s): b.append(7); str(e); b.append(d ? 1 : 0); str(s)
        }
        let n = UInt32(b.count)
        return [UInt8(n & 0xff), UInt8((n >> 8) & 0xff), UInt8((n >> 16) & 0xff), UInt8(n >> 24)] + b
    }

    enum DecodeError: Error, Equatable, CustomStringConvertible {
        case version(UInt8)
        case malformed(String)

        var description: String {
            switch self {
            case .version(let v): return "coordinator protocol version \(v) is not supported (this build speaks \(CoordinatorMessage.version))"
            case .malformed(let s): return "malformed coordinator frame: \(s)"
            }
        }
    }

    /// Decodes a frame body (without the length prefix).
    static func decode(_ body: [UInt8]) throws(DecodeError) -> CoordinatorMessage {
        var r = Reader(data: body)
        let v = try r.u8()
        guard v == Self.version else { throw .version(v) }
        let type = try r.u8()
        let m: CoordinatorMessage
        switch type {
        case 1: m = .hello(endpoint: try r.str())
        case 2: m = .welcome(status: try r.u8(), message: try r.str())
        case 3: m = .put(key: try r.str(), value: try r.blob())
        case 4: m = .get(request: try r.u32(), key: try r.str())
        case 5: m = .value(request: try r.u32(), value: try r.blob())
        case 6: m = .abort(reason: try r.str())
        case 7: m = .finished(endpoint: try r.str(), diverged: try r.u8() != 0, summary: try r.str())
        default: throw .malformed("unknown message type \(type)")
        }
        guard r.offset == body.count else { throw .malformed("\(body.count - r.offset) trailing bytes") }
        return m
    }

    private struct Reader {
        let data: [UInt8]
        var offset = 0

        mutating func take(_ n: Int) throws(DecodeError) -> ArraySlice<UInt8> {
            guard n >= 0, self.offset + n <= self.data.count else { throw .malformed("truncated at byte \(self.offset)") }
            defer { self.offset += n }
            return self.data[self.offset..<(self.offset + n)]
        }
        mutating func u8() throws(DecodeError) -> UInt8 { try self.take(1).first! }
        mutating func u16() throws(DecodeError) -> Int {
            let s = try self.take(2)
            return Int(s[s.startIndex]) | Int(s[s.startIndex + 1]) << 8
        }
        mutating func u32() throws(DecodeError) -> UInt32 {
            let s = try self.take(4)
            var v: UInt32 = 0
            for (i, b) in s.enumerated() { v |= UInt32(b) << (8 * UInt32(i)) }
            return v
        }
        mutating func blob() throws(DecodeError) -> [UInt8] {
            let n = try self.u16()
            guard n <= CoordinatorMessage.maxField else { throw .malformed("field of \(n) bytes") }
            return Array(try self.take(n))
        }
        mutating func str() throws(DecodeError) -> String {
            let b = try self.blob()
            return String(decoding: b, as: UTF8.self)
        }
    }
}
