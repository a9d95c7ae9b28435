/// Fixed-width integer fields in a byte array, with an explicit byte order and bounds checks on
/// every read: the descriptor and the connection message come from another process (the peer's
/// provider, or a switch passing bytes along), so they are decoded as hostile input.
struct WireWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int) { self.bytes.reserveCapacity(capacity) }

    mutating func u8(_ v: UInt8) { self.bytes.append(v) }
    mutating func u16(_ v: UInt16, bigEndian: Bool) { self.put(UInt64(v), width: 2, bigEndian: bigEndian) }
    mutating func u32(_ v: UInt32, bigEndian: Bool) { self.put(UInt64(v), width: 4, bigEndian: bigEndian) }
    mutating func u64(_ v: UInt64, bigEndian: Bool) { self.put(v, width: 8, bigEndian: bigEndian) }
    mutating func raw(_ v: [UInt8]) { self.bytes.append(contentsOf: v) }

    private mutating func put(_ v: UInt64, width: Int, bigEndian: Bool) {
        for i in 0..<width {
            let shift = bigEndian ? (width - 1 - i) * 8 : i * 8
            self.bytes.append(UInt8(truncatingIfNeeded: v >> UInt64(shift)))
        }
    }
}

struct WireReader {
    private let bytes: [UInt8]
    private(set) var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { self.bytes.count - self.offset }

    mutating func u8() -> UInt8? { self.get(width: 1, bigEndian: true).map { UInt8($0) } }
    mutating func u16(bigEndian: Bool) -> UInt16? { self.get(width: 2, bigEndian: bigEndian).map { UInt16($0) } }
    mutating func u32(bigEndian: Bool) -> UInt32? { self.get(width: 4, bigEndian: bigEndian).map { UInt32($0) } }
    mutating func u64(bigEndian: Bool) -> UInt64? { self.get(width: 8, bigEndian: bigEndian) }

    mutating func raw(_ count: Int) -> [UInt8]? {
        guard count >= 0, self.remaining >= count else { return nil }
        defer { self.offset += count }
        return Array(self.bytes[self.offset..<self.offset + count])
    }

    private mutating func get(width: Int, bigEndian: Bool) -> UInt64? {
        guard self.remaining >= width else { return nil }
        var v: UInt64 = 0
        for i in 0..<width {
            let shift = bigEndian ? (width - 1 - i) * 8 : i * 8
            v |= UInt64(self.bytes[self.offset + i]) << UInt64(shift)
        }
        self.offset += width
        return v
    }
}
