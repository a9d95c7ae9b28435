/// The two messages that open a connection (Docs/TCPProvider.md, "Handshake"): the connecting
/// side sends HELLO right after the TCP connection is up; the listening side answers ACCEPT once
/// its application accepted (WSPAccept with CF_ACCEPT), or REFUSE (CF_REJECT, backlog full).
///
/// Layout (32 bytes, little-endian):
///
///     0  4  magic "SANT"
///     4  2  version (1)
///     6  2  kind: 1 HELLO, 2 ACCEPT, 3 REFUSE
///     8 16  nonce (128 random bits; the connection id is both nonces xor-ed)
///    24  4  sender's SO_MAX_MSG_SIZE
///    28  4  reserved, zero
public struct HandshakeMessage: Sendable, Equatable {
    public static let size = 32
    /// "SANT" as a little-endian 32-bit word.
    public static let magic: UInt32 = 0x544E_4153
    public static let version: UInt16 = 1

    public enum Kind: UInt16, Sendable {
        case hello = 1
        case accept = 2
        case refuse = 3
    }

    public var kind: Kind
    public var nonce: Key128
    public var maxMessageSize: UInt32

    public init(kind: Kind, nonce: Key128, maxMessageSize: UInt32) {
        self.kind = kind
        self.nonce = nonce
        self.maxMessageSize = maxMessageSize
    }

    public func encode(into p: UnsafeMutableRawPointer) {
        p.storeBytes(of: Self.magic.littleEndian, toByteOffset: 0, as: UInt32.self)
        p.storeBytes(of: Self.version.littleEndian, toByteOffset: 4, as: UInt16.self)
        p.storeBytes(of: self.kind.rawValue.littleEndian, toByteOffset: 6, as: UInt16.self)
        self.nonce.store(to: p, at: 8)
        p.storeBytes(of: self.maxMessageSize.littleEndian, toByteOffset: 24, as: UInt32.self)
        p.storeBytes(of: UInt32(0), toByteOffset: 28, as: UInt32.self)
    }

    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.size)
        out.withUnsafeMutableBytes { self.encode(into: $0.baseAddress!) }
        return out
    }

    /// Decodes exactly 32 bytes; a wrong magic, version, kind or reserved field is `.malformed`.
    public static func decode(_ raw: UnsafeRawBufferPointer) -> Result<HandshakeMessage, WireError> {
        guard raw.count == Self.size, let p = raw.baseAddress else { return .failure(.malformed) }
        guard UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 0, as: UInt32.self)) == Self.magic,
              UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt16.self)) == Self.version,
              let kind = Kind(rawValue: UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 6, as: UInt16.self))),
              p.loadUnaligned(fromByteOffset: 28, as: UInt32.self) == 0
        else { return .failure(.malformed) }
        return .success(HandshakeMessage(
            kind: kind, nonce: Key128(loading: p, at: 8),
            maxMessageSize: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 24, as: UInt32.self))))
    }

    public static func decode(_ bytes: [UInt8]) -> Result<HandshakeMessage, WireError> {
        bytes.withUnsafeBytes { self.decode($0) }
    }
}
