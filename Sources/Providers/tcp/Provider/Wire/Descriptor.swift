import SanCore

/// The tcp provider's RDMA buffer descriptor: what WSPRegisterRdmaMemory writes into the switch's
/// block and what the peer passes to WSPRdmaWrite / WSPRdmaRead (reference §1.4). It is a
/// capability: self-contained (the initiator needs no lookup), versioned, bound to one connection
/// and carrying an unguessable key. It holds no address: the target resolves the region id in its
/// own table and never trusts a pointer from the wire.
///
/// Layout (56 bytes, little-endian; Docs/TCPProvider.md, "Descriptor"):
///
///     0  4  magic "STRD"
///     4  1  version (1)
///     5  1  access: MEM_READ (1) | MEM_WRITE (2), the rights the peer has
///     6  2  reserved, zero
///     8 16  connection id (both handshake nonces xor-ed)
///    24  8  region id (unique in the registering process, never reused)
///    32  8  region length in bytes
///    40 16  key (128 random bits from getrandom)
public struct RdmaDescriptor: Sendable, Equatable {
    public static let size = 56
    /// "STRD" as a little-endian 32-bit word.
    public static let magic: UInt32 = 0x4452_5453
    public static let version: UInt8 = 1

    public var access: SanAccess
    public var connection: Key128
    public var region: UInt64
    public var length: UInt64
    public var key: Key128

    public init(access: SanAccess, connection: Key128, region: UInt64, length: UInt64, key: Key128) {
        self.access = access
        self.connection = connection
        self.region = region
        self.length = length
        self.key = key
    }

    /// Writes the 56 bytes to `p`.
    public func encode(into p: UnsafeMutableRawPointer) {
        p.storeBytes(of: Self.magic.littleEndian, toByteOffset: 0, as: UInt32.self)
        p.storeBytes(of: Self.version, toByteOffset: 4, as: UInt8.self)
        p.storeBytes(of: UInt8(truncatingIfNeeded: self.access.rawValue), toByteOffset: 5, as: UInt8.self)
        p.storeBytes(of: UInt16(0), toByteOffset: 6, as: UInt16.self)
        self.connection.store(to: p, at: 8)
        p.storeBytes(of: self.region.littleEndian, toByteOffset: 24, as: UInt64.self)
        p.storeBytes(of: self.length.littleEndian, toByteOffset: 32, as: UInt64.self)
        self.key.store(to: p, at: 40)
    }

    /// The 56 bytes as an array.
    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.size)
        out.withUnsafeMutableBytes { self.encode(into: $0.baseAddress!) }
        return out
    }

    /// Decodes and checks the format (not the key, the region or the connection: the target does
    /// that against its own table). `raw` must be exactly 56 bytes.
    public static func decode(_ raw: UnsafeRawBufferPointer) -> Result<RdmaDescriptor, WireError> {
        guard raw.count == Self.size, let p = raw.baseAddress else { return .failure(.badDescriptor) }
        guard UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 0, as: UInt32.self)) == Self.magic,
              p.load(fromByteOffset: 4, as: UInt8.self) == Self.version,
              p.loadUnaligned(fromByteOffset: 6, as: UInt16.self) == 0
        else { return .failure(.badDescriptor) }
        let access = SanAccess(rawValue: UInt32(p.load(fromByteOffset: 5, as: UInt8.self)))
        guard access.isValid else { return .failure(.badDescriptor) }
        let length = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 32, as: UInt64.self))
        guard length <= UInt64(UInt32.max) else { return .failure(.badDescriptor) }
        return .success(RdmaDescriptor(
            access: access, connection: Key128(loading: p, at: 8),
            region: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 24, as: UInt64.self)),
            length: length, key: Key128(loading: p, at: 40)))
    }

    /// Decodes from a caller's pointer and length (WSPRdmaWrite's `lpTargetBufferDescriptor`).
    public static func decode(_ p: UnsafeRawPointer?, length: UInt32) -> Result<RdmaDescriptor, WireError> {
        guard let p, length == UInt32(Self.size) else { return .failure(.badDescriptor) }
        return self.decode(UnsafeRawBufferPointer(start: p, count: Self.size))
    }

    /// Decodes from bytes.
    public static func decode(_ bytes: [UInt8]) -> Result<RdmaDescriptor, WireError> {
        bytes.withUnsafeBytes { self.decode($0) }
    }
}
