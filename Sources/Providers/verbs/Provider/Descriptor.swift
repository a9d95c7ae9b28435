import SanCore

/// The verbs provider's RDMA buffer descriptor (reference §1.4: opaque to the switch, carried to
/// the peer in a control message and handed to the peer provider's WSPRdmaRead / WSPRdmaWrite).
///
/// Fixed size, versioned, self-contained, little-endian:
///
/// | Offset | Field | |
/// |---|---|---|
/// | 0 | u32 magic `0x53565242` ("SVRB") | |
/// | 4 | u16 version (1) | a reader refuses other versions |
/// | 6 | u16 size (40) | must equal the length the caller passes |
/// | 8 | u32 access | MEM_READ / MEM_WRITE / MEM_READWRITE: what the peer may do |
/// | 12 | u32 rkey | of the region's own memory region (revoked by ibv_dereg_mr) |
/// | 16 | u64 address | start of the region in the registering process |
/// | 24 | u64 length | bytes |
/// | 32 | u64 region | the registering provider's id for WSPDeregisterRdmaMemory |
///
/// The peer's adapter enforces rkey, bounds and rights anyway; the checks here turn a bad offset
/// or a missing right into WSAEFAULT at the call instead of a fatal completion that fails the
/// whole connection.
public struct VerbsDescriptor: Equatable, Sendable {
    public static let magic: UInt32 = 0x5356_5242
    public static let version: UInt16 = 1
    public static let size = 40

    public var access: SanAccess
    public var rkey: UInt32
    public var address: UInt64
    public var length: UInt64
    public var region: UInt64

    public init(access: SanAccess, rkey: UInt32, address: UInt64, length: UInt64, region: UInt64) {
        self.access = access
        self.rkey = rkey
        self.address = address
        self.length = length
        self.region = region
    }

    /// Why a descriptor was refused.
    public enum DecodeError: Error, Equatable, Sendable {
        case wrongLength(Int)
        case badMagic(UInt32)
        case unsupportedVersion(UInt16)
        case sizeMismatch(UInt16)
        case badAccess(UInt32)
        case emptyRegion
        case regionWraps
    }

    public func encoded() -> [UInt8] {
        var w = WireWriter(capacity: Self.size)
        w.u32(Self.magic, bigEndian: false)
        w.u16(Self.version, bigEndian: false)
        w.u16(UInt16(Self.size), bigEndian: false)
        w.u32(self.access.rawValue, bigEndian: false)
        w.u32(self.rkey, bigEndian: false)
        w.u64(self.address, bigEndian: false)
        w.u64(self.length, bigEndian: false)
        w.u64(self.region, bigEndian: false)
        return w.bytes
    }

    /// Decodes and validates a descriptor of exactly ``size`` bytes.
    public static func decode(_ bytes: [UInt8]) -> Result<VerbsDescriptor, DecodeError> {
        guard bytes.count == Self.size else { return .failure(.wrongLength(bytes.count)) }
        var r = WireReader(bytes)
        // The count check above makes every read below succeed.
        let magic = r.u32(bigEndian: false)!
        guard magic == Self.magic else { return .failure(.badMagic(magic)) }
        let version = r.u16(bigEndian: false)!
        guard version == Self.version else { return .failure(.unsupportedVersion(version)) }
        let size = r.u16(bigEndian: false)!
        guard Int(size) == Self.size else { return .failure(.sizeMismatch(size)) }
        let access = SanAccess(rawValue: r.u32(bigEndian: false)!)
        guard access.isValid else { return .failure(.badAccess(access.rawValue)) }
        let rkey = r.u32(bigEndian: false)!
        let address = r.u64(bigEndian: false)!
        let length = r.u64(bigEndian: false)!
        let region = r.u64(bigEndian: false)!
        guard length > 0 else { return .failure(.emptyRegion) }
        guard address <= UInt64.max - length else { return .failure(.regionWraps) }
        return .success(VerbsDescriptor(access: access, rkey: rkey, address: address, length: length, region: region))
    }

    /// Decodes the caller's descriptor block (`lpTargetBufferDescriptor`, `dwTargetDescriptorLength`).
    public static func decode(_ pointer: UnsafeRawPointer?, length: UInt32) -> Result<VerbsDescriptor, DecodeError> {
        guard let pointer, Int(length) == Self.size else { return .failure(.wrongLength(Int(length))) }
        return Self.decode(Array(UnsafeRawBufferPointer(start: pointer, count: Self.size)))
    }

    /// The remote address of an RDMA request of `count` bytes at `offset` into the region that
    /// needs `right` (MEM_WRITE for the peer's RDMA write, MEM_READ for its read). WSAEFAULT when
    /// the descriptor does not grant the right or the range does not fit.
    public func target(offset: UInt32, count: UInt32, needs right: SanAccess) -> Result<UInt64, WSAError> {
        guard self.access.contains(right) else { return .failure(.fault) }
        guard UInt64(offset) + UInt64(count) <= self.length else { return .failure(.fault) }
        return .success(self.address + UInt64(offset))
    }
}
