/// The messages the two ends exchange over the SAN connection itself (WSPSend / WSPRecv), the
/// way perftest exchanges queue-pair information, so a trace of either end shows the whole
/// application: setup exchange, then the measured phase, then the closing handshake.
///
/// Layout, little-endian, at most ``SetupMessage/capacity`` bytes:
///
///     0  u32 magic "SPRF"     4  u16 version (1)     6  u8 kind     7  u8 test code
///     8  u32 size            12  u32 iterations     16  u32 tx depth 20  u32 flags (bit 0: raw TCP)
///    24  u32 status (0 = ok, else a WSA error or 1 = refused)        28  u16 raw-TCP port
///    30  u16 descriptor length                      32  descriptor bytes, then u16 text length, text
struct SetupMessage: Equatable {
    enum Kind: UInt8 {
        /// Client → server: the run's parameters and, for write_lat, the client's descriptor.
        case hello = 1
        /// Server → client: status, the server's descriptor, the raw-TCP port.
        case reply = 2
        /// Client → server: the measured phase is over.
        case done = 3
        /// Server → client: everything the client sent has arrived (ends a bandwidth clock).
        case ack = 4
    }

    static let magic: UInt32 = 0x4652_5053  // "SPRF"
    static let version: UInt16 = 1
    /// The size of every control buffer; the setup message never exceeds it.
    static let capacity = 1024
    static let headerSize = 32

    var kind: Kind
    var test: PerfTest = .sendLatency
    var size: UInt32 = 0
    var iterations: UInt32 = 0
    var txDepth: UInt32 = 0
    var rawTCP = false
    var status: UInt32 = 0
    var rawPort: UInt16 = 0
    var descriptor: [UInt8] = []
    var text: String = ""

    init(kind: Kind) { self.kind = kind }

    /// Writes the message into `buffer`; returns its length. Descriptor and text are truncated to fit.
    func encode(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        precondition(buffer.count >= Self.capacity)
        var w = ByteWriter(buffer)
        w.put(Self.magic)
        w.put(Self.version)
        w.put(self.kind.rawValue)
        w.put(self.test.code)
        w.put(self.size)
        w.put(self.iterations)
        w.put(self.txDepth)
        w.put(UInt32(self.rawTCP ? 1 : 0))
        w.put(self.status)
        w.put(self.rawPort)
        let desc = self.descriptor.prefix(Self.capacity - Self.headerSize - 2 - 200)
        w.put(UInt16(desc.count))
        w.put(bytes: Array(desc))
        let text = Array(self.text.utf8.prefix(Self.capacity - w.offset - 2))
        w.put(UInt16(text.count))
        w.put(bytes: text)
        return w.offset
    }

    /// Decodes a received message; nil unless it is a well-formed setup message.
    init?(_ bytes: UnsafeRawBufferPointer) {
        var r = ByteReader(bytes)
        guard r.u32() == Self.magic, r.u16() == Self.version, let kind = r.u8().flatMap(Kind.init(rawValue:)),
              let test = r.u8().flatMap(PerfTest.init(code:)) else { return nil }
        self.kind = kind
        self.test = test
        guard let size = r.u32(), let iters = r.u32(), let depth = r.u32(), let flags = r.u32(), let status = r.u32(),
              let port = r.u16(), let dlen = r.u16(), let desc = r.bytes(Int(dlen)), let tlen = r.u16(),
              let text = r.bytes(Int(tlen)) else { return nil }
        self.size = size
        self.iterations = iters
        self.txDepth = depth
        self.rawTCP = flags & 1 != 0
        self.status = status
        self.rawPort = port
        self.descriptor = desc
        self.text = String(decoding: text, as: UTF8.self)
    }
}

/// Little-endian writes into a fixed buffer.
struct ByteWriter {
    let buffer: UnsafeMutableRawBufferPointer
    var offset = 0
    init(_ buffer: UnsafeMutableRawBufferPointer) { self.buffer = buffer }

    mutating func put<T: FixedWidthInteger>(_ v: T) {
        self.buffer.storeBytes(of: v.littleEndian, toByteOffset: self.offset, as: T.self)
        self.offset += MemoryLayout<T>.size
    }

    mutating func put(bytes: [UInt8]) {
        for b in bytes { self.put(b) }
    }
}

/// Bounds-checked little-endian reads.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0
    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    mutating func read<T: FixedWidthInteger>(_: T.Type) -> T? {
        guard self.offset + MemoryLayout<T>.size <= self.bytes.count else { return nil }
        defer { self.offset += MemoryLayout<T>.size }
        return T(littleEndian: self.bytes.loadUnaligned(fromByteOffset: self.offset, as: T.self))
    }

    mutating func u8() -> UInt8? { self.read(UInt8.self) }
    mutating func u16() -> UInt16? { self.read(UInt16.self) }
    mutating func u32() -> UInt32? { self.read(UInt32.self) }

    mutating func bytes(_ n: Int) -> [UInt8]? {
        guard n >= 0, self.offset + n <= self.bytes.count else { return nil }
        defer { self.offset += n }
        return Array(self.bytes[self.offset..<(self.offset + n)])
    }
}
