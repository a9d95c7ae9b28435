/// The two messages that open a connection (Docs/TCPProvider.md, "Handshake"): the connecting
/// side sends HELLO right after the TCP connection is up; the listening side answers ACCEPT once
/// its application accepted (WSPAccept with CF_ACCEPT), or REFUSE (CF_REJECT, backlog full, or a
/// HELLO of a protocol version it does not speak).
///
/// Layout (32 bytes, little-endian):
///
///     0  4  magic "SANT"
///     4  2  version (2)
///     6  2  kind: 1 HELLO, 2 ACCEPT, 3 REFUSE
///     8 16  nonce (128 random bits; the connection id is both nonces xor-ed)
///    24  4  sender's SO_MAX_MSG_SIZE
///    28  4  REFUSE: why (0 the application or a full backlog, 13 unsupported version); else zero
///
/// Bytes 0–7 keep this layout in every version, so two sides of different versions can always
/// tell each other which version they speak (see ``peek(_:)``).
public struct HandshakeMessage: Sendable, Equatable {
    public static let size = 32
    /// "SANT" as a little-endian 32-bit word.
    public static let magic: UInt32 = 0x544E_4153
    /// Version 2: RDMA writes complete when the target acknowledges them (ACK frames), ABORT names
    /// the refused frame. Version 1 peers are refused at the handshake.
    public static let version: UInt16 = 2

    public enum Kind: UInt16, Sendable {
        case hello = 1
        case accept = 2
        case refuse = 3
    }

    public var kind: Kind
    public var nonce: Key128
    public var maxMessageSize: UInt32
    /// REFUSE only: 0 when the application refused (or the backlog was full), else the
    /// ``WireError`` raw value (``WireError/unsupportedVersion``).
    public var reason: UInt32

    public init(kind: Kind, nonce: Key128, maxMessageSize: UInt32, reason: UInt32 = 0) {
        self.kind = kind
        self.nonce = nonce
        self.maxMessageSize = maxMessageSize
        self.reason = kind == .refuse ? reason : 0
    }

    public func encode(into p: UnsafeMutableRawPointer) {
        p.storeBytes(of: Self.magic.littleEndian, toByteOffset: 0, as: UInt32.self)
        p.storeBytes(of: Self.version.littleEndian, toByteOffset: 4, as: UInt16.self)
        p.storeBytes(of: self.kind.rawValue.littleEndian, toByteOffset: 6, as: UInt16.self)
        self.nonce.store(to: p, at: 8)
        p.storeBytes(of: self.maxMessageSize.littleEndian, toByteOffset: 24, as: UInt32.self)
        p.storeBytes(of: self.reason.littleEndian, toByteOffset: 28, as: UInt32.self)
    }

    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.size)
        out.withUnsafeMutableBytes { self.encode(into: $0.baseAddress!) }
        return out
    }

    /// The version-independent part of a handshake message (bytes 0–7): nil when the magic is
    /// wrong (not this protocol at all).
    public static func peek(_ raw: UnsafeRawBufferPointer) -> (version: UInt16, kind: UInt16)? {
        guard raw.count >= 8, let p = raw.baseAddress,
              UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 0, as: UInt32.self)) == Self.magic else { return nil }
        return (UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt16.self)),
                UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 6, as: UInt16.self)))
    }

    public static func peek(_ bytes: [UInt8]) -> (version: UInt16, kind: UInt16)? {
        bytes.withUnsafeBytes { self.peek($0) }
    }

    /// Decodes exactly 32 bytes. Another version is `.unsupportedVersion` (``peek(_:)`` tells
    /// which); a wrong magic or kind, or a reason outside REFUSE, is `.malformed`.
    public static func decode(_ raw: UnsafeRawBufferPointer) -> Result<HandshakeMessage, WireError> {
        guard raw.count == Self.size, let p = raw.baseAddress, let (version, rawKind) = Self.peek(raw) else {
            return .failure(.malformed)
        }
        guard version == Self.version else { return .failure(.unsupportedVersion) }
        let reason = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 28, as: UInt32.self))
        guard let kind = Kind(rawValue: rawKind), reason == 0 || kind == .refuse else { return .failure(.malformed) }
        return .success(HandshakeMessage(
            kind: kind, nonce: Key128(loading: p, at: 8),
            maxMessageSize: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 24, as: UInt32.self)), reason: reason))
    }

    public static func decode(_ bytes: [UInt8]) -> Result<HandshakeMessage, WireError> {
        bytes.withUnsafeBytes { self.decode($0) }
    }
}
