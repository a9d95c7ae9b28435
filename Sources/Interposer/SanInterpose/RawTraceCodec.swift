/// The interim on-disk form of a capture, used until the drain writes through the trace store
/// (branch `store`): an append-only file of checksummed blocks, one per flush, so a process
/// killed mid-run leaves every flushed block readable.
///
///     file   = "SANTRAW1" block*
///     block  = "BLK1" u32 length u32 crc32(payload) payload
///     payload= item*        item = 'M' kv | 'S' kv | 'D' u64 id u32 n bytes | 'E' event
///     kv     = u32 count (u32 n utf8, u32 n utf8)*
///     event  = u8 kind u8 function u16 flags u32 thread u64 sequence u64 timestamp u8 n value*
///
/// Integers are little-endian. Values are tagged (see `TraceValue`).
public enum RawTraceCodec {
    public static let fileMagic: [UInt8] = Array("SANTRAW1".utf8)
    static let blockMagic: [UInt8] = Array("BLK1".utf8)

    // MARK: Encoding

    struct Writer {
        var bytes: [UInt8] = []
        mutating func u8(_ v: UInt8) { self.bytes.append(v) }
        mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { self.bytes.append(contentsOf: $0) } }
        mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { self.bytes.append(contentsOf: $0) } }
        mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { self.bytes.append(contentsOf: $0) } }
        mutating func blob(_ b: [UInt8]) {
            self.u32(UInt32(b.count))
            self.bytes.append(contentsOf: b)
        }
        mutating func kv(_ pairs: [(String, String)]) {
            self.u32(UInt32(pairs.count))
            for (k, v) in pairs {
                self.blob(Array(k.utf8))
                self.blob(Array(v.utf8))
            }
        }

        mutating func event(_ e: TraceEvent) {
            self.u8(UInt8(ascii: "E"))
            self.u8(e.kind.rawValue)
            self.u8(e.function)
            self.u16(e.flags)
            self.u32(e.thread)
            self.u64(e.sequence)
            self.u64(e.timestamp)
            self.u8(UInt8(e.fields.count))
            for f in e.fields { self.value(f) }
        }

        mutating func value(_ v: TraceValue) {
            switch v {
            case .int(let x): self.u8(1); self.u64(UInt64(bitPattern: x))
            case .uint(let x): self.u8(2); self.u64(x)
            case .object(let x): self.u8(3); self.u64(x)
            case .address(let r, let o): self.u8(4); self.u64(r); self.u64(o)
            case .buffers(let count, let bufs):
                self.u8(5); self.u64(count); self.u32(UInt32(bufs.count))
                for b in bufs { self.u64(b.length); self.u64(b.registration); self.u64(b.offset); self.u64(b.handle) }
            case .bytes(let length, let b): self.u8(6); self.u64(length); self.blob(b)
            case .guid(let g): self.u8(7); self.bytes.append(contentsOf: (g + Array(repeating: 0, count: 16)).prefix(16))
            case .payload(let p):
                self.u8(8); self.u8(p.mode.rawValue); self.u32(UInt32(p.entries.count))
                for e in p.entries { self.u64(e.length); self.u64(e.hash); self.blob(e.bytes) }
            case .callRef(let t, let s): self.u8(9); self.u32(t); self.u64(s)
            }
        }
    }

    /// A block around `payload`.
    static func block(_ payload: [UInt8]) -> [UInt8] {
        var w = Writer()
        w.bytes.append(contentsOf: self.blockMagic)
        w.u32(UInt32(payload.count))
        w.u32(CRC32.checksum(payload))
        w.bytes.append(contentsOf: payload)
        return w.bytes
    }

    // MARK: Decoding

    /// What a reader found in a file.
    public struct Contents: Sendable {
        public var metadata: [String: String] = [:]
        /// The stats of the last flush.
        public var stats: [String: String] = [:]
        public var descriptors: [UInt64: [UInt8]] = [:]
        public var events: [TraceEvent] = []
        public var blocks = 0
        /// Why reading stopped before the end of the file (a torn or damaged last block), if it did.
        public var damage: String?
    }

    public struct FormatError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Decodes a whole file. A torn or damaged block ends the read (`damage`); what came before it
    /// is returned. A file that is not a raw trace at all throws.
    public static func decode(_ file: [UInt8]) throws(FormatError) -> Contents {
        guard file.count >= 8, Array(file[0..<8]) == self.fileMagic else {
            throw FormatError(description: "not a santrace raw capture (bad magic)")
        }
        var c = Contents()
        var r = Reader(bytes: file, offset: 8)
        while r.offset < file.count {
            guard let magic = r.take(4), magic == self.blockMagic, let len = r.u32(), let crc = r.u32(),
                  let payload = r.take(Int(len))
            else {
                c.damage = "torn block at byte \(r.offset)"
                break
            }
            guard CRC32.checksum(payload) == crc else {
                c.damage = "checksum mismatch in block \(c.blocks)"
                break
            }
            var p = Reader(bytes: payload, offset: 0)
            do throws(FormatError) {
                try self.items(&p, into: &c)
            } catch {
                c.damage = "block \(c.blocks): \(error.description)"
                break
            }
            c.blocks += 1
        }
        return c
    }

    private static func items(_ p: inout Reader, into c: inout Contents) throws(FormatError) {
        while p.offset < p.bytes.count {
            guard let tag = p.u8() else { throw FormatError(description: "truncated item") }
            switch tag {
            case UInt8(ascii: "M"): c.metadata.merge(try p.kv(), uniquingKeysWith: { $1 })
            case UInt8(ascii: "S"): c.stats = try p.kv()
            case UInt8(ascii: "D"):
                guard let id = p.u64(), let b = p.blob() else { throw FormatError(description: "truncated descriptor") }
                c.descriptors[id] = b
            case UInt8(ascii: "E"): c.events.append(try p.event())
            default: throw FormatError(description: "unknown item \(tag)")
            }
        }
    }

    struct Reader {
        let bytes: [UInt8]
        var offset: Int

        mutating func take(_ n: Int) -> [UInt8]? {
            guard n >= 0, self.offset + n <= self.bytes.count else { return nil }
            defer { self.offset += n }
            return Array(self.bytes[self.offset..<self.offset + n])
        }
        mutating func int<T: FixedWidthInteger>(_: T.Type) -> T? {
            let n = MemoryLayout<T>.size
            guard self.offset + n <= self.bytes.count else { return nil }
            var v: T = 0
            for i in 0..<n { v |= T(self.bytes[self.offset + i]) << (8 * i) }
            self.offset += n
            return v
        }
        mutating func u8() -> UInt8? { self.int(UInt8.self) }
        mutating func u16() -> UInt16? { self.int(UInt16.self) }
        mutating func u32() -> UInt32? { self.int(UInt32.self) }
        mutating func u64() -> UInt64? { self.int(UInt64.self) }
        mutating func blob() -> [UInt8]? {
            guard let n = self.u32() else { return nil }
            return self.take(Int(n))
        }
        mutating func kv() throws(FormatError) -> [String: String] {
            guard let n = self.u32(), n < 1 << 20 else { throw FormatError(description: "bad key-value count") }
            var d: [String: String] = [:]
            for _ in 0..<n {
                guard let k = self.blob(), let v = self.blob() else { throw FormatError(description: "truncated key-value") }
                d[String(decoding: k, as: UTF8.self)] = String(decoding: v, as: UTF8.self)
            }
            return d
        }
        mutating func event() throws(FormatError) -> TraceEvent {
            guard let k = self.u8(), let kind = TraceEvent.Kind(rawValue: k), let f = self.u8(), let flags = self.u16(),
                  let thread = self.u32(), let seq = self.u64(), let ts = self.u64(), let n = self.u8()
            else { throw FormatError(description: "truncated event header") }
            var fields: [TraceValue] = []
            for _ in 0..<n { fields.append(try self.value()) }
            return TraceEvent(kind: kind, function: f, thread: thread, sequence: seq, timestamp: ts, flags: flags,
                              fields: fields)
        }
        mutating func value() throws(FormatError) -> TraceValue {
            let bad = FormatError(description: "truncated value")
            guard let tag = self.u8() else { throw bad }
            switch tag {
            case 1: guard let x = self.u64() else { throw bad }; return .int(Int64(bitPattern: x))
            case 2: guard let x = self.u64() else { throw bad }; return .uint(x)
            case 3: guard let x = self.u64() else { throw bad }; return .object(x)
            case 4: guard let r = self.u64(), let o = self.u64() else { throw bad }; return .address(registration: r, offset: o)
            case 5:
                guard let count = self.u64(), let n = self.u32(), n <= 1 << 16 else { throw bad }
                var bufs: [TraceBuffer] = []
                for _ in 0..<n {
                    guard let l = self.u64(), let r = self.u64(), let o = self.u64(), let h = self.u64() else { throw bad }
                    bufs.append(TraceBuffer(length: l, registration: r, offset: o, handle: h))
                }
                return .buffers(count: count, bufs)
            case 6: guard let l = self.u64(), let b = self.blob() else { throw bad }; return .bytes(length: l, b)
            case 7: guard let g = self.take(16) else { throw bad }; return .guid(g)
            case 8:
                guard let m = self.u8(), let mode = TracePayload.Mode(rawValue: m), let n = self.u32(), n <= 1 << 16
                else { throw bad }
                var entries: [TracePayload.Entry] = []
                for _ in 0..<n {
                    guard let l = self.u64(), let h = self.u64(), let b = self.blob() else { throw bad }
                    entries.append(.init(length: l, hash: h, bytes: b))
                }
                return .payload(TracePayload(mode: mode, entries: entries))
            case 9: guard let t = self.u32(), let s = self.u64() else { throw bad }; return .callRef(thread: t, sequence: s)
            default: throw FormatError(description: "unknown value tag \(tag)")
            }
        }
    }
}

/// CRC-32 (IEEE 802.3, reflected, as zlib computes it).
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { i in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        bytes.withUnsafeBufferPointer { p in
            for b in p { c = self.table[Int((c ^ UInt32(b)) & 0xff)] ^ (c >> 8) }
        }
        return c ^ 0xFFFF_FFFF
    }
}
