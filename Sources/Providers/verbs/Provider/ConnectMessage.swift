/// The connection-exchange message. WSPConnect / WSPAccept run over a TCP connection to the
/// SAN address, and the two providers swap what each needs to move its RC queue pair to
/// RTR/RTS (reference §5.2: out-of-band exchange instead of rdma_cm):
///
///     initiator                         responder
///       request (qpn, psn, lid, gid…) →
///                                       WSPAccept: condition function; QP → RTR → RTS
///                                     ← accept (its qpn, psn, …)  or  reject (WSA error)
///       QP → RTR → RTS
///       ready                         →  WSPAccept returns (the initiator can receive now)
///
/// The TCP connection then stays open for the life of the SAN connection: its end tells each
/// side that the peer closed.
///
/// Wire format, network byte order, 48 bytes in version 1:
///
/// | Offset | Field |
/// |---|---|
/// | 0 | u32 magic `0x5356434D` ("SVCM") |
/// | 4 | u8 version (1); a reader refuses other versions |
/// | 5 | u8 kind: 1 request, 2 accept, 3 reject, 4 ready |
/// | 6 | u16 length: 48…256; bytes past 48 are ignored (room for minor additions) |
/// | 8 | u32 QP number (24 bits) |
/// | 12 | u32 first PSN (24 bits) |
/// | 16 | u16 LID |
/// | 18 | u8 active MTU (`enum ibv_mtu`, 1…5 = 256…4096) |
/// | 19 | u8 link layer (1 InfiniBand, 2 Ethernet) |
/// | 20 | 16 bytes GID |
/// | 36 | u8 initiator depth (RDMA reads this side issues at once) |
/// | 37 | u8 responder resources (RDMA reads this side serves at once) |
/// | 38 | u16 reserved, 0 |
/// | 40 | u32 status: the WSA error of a reject, else 0 |
/// | 44 | u32 reserved, 0 |
public struct VerbsConnectMessage: Equatable, Sendable {
    public static let magic: UInt32 = 0x5356_434D
    public static let version: UInt8 = 1
    public static let size = 48
    public static let headerSize = 8
    public static let maxSize = 256

    public enum Kind: UInt8, Sendable { case request = 1, accept, reject, ready }

    public enum LinkLayer: UInt8, Sendable {
        case infiniband = 1, ethernet = 2
    }

    public var kind: Kind
    public var queuePairNumber: UInt32 = 0
    public var packetSequenceNumber: UInt32 = 0
    public var lid: UInt16 = 0
    public var mtu: UInt8 = 0
    public var linkLayer: LinkLayer = .infiniband
    public var gid: [UInt8] = Array(repeating: 0, count: 16)
    public var initiatorDepth: UInt8 = 0
    public var responderResources: UInt8 = 0
    public var status: Int32 = 0

    public init(kind: Kind) { self.kind = kind }

    /// A request or accept carrying a queue pair's addressing.
    public init(kind: Kind, endpoint: VerbsEndpoint) {
        self.kind = kind
        self.queuePairNumber = endpoint.queuePairNumber
        self.packetSequenceNumber = endpoint.packetSequenceNumber
        self.lid = endpoint.lid
        self.mtu = endpoint.mtu
        self.linkLayer = endpoint.linkLayer
        self.gid = endpoint.gid
        self.initiatorDepth = endpoint.initiatorDepth
        self.responderResources = endpoint.responderResources
    }

    /// A reject with the reason the initiator's WSPConnect reports.
    public static func reject(_ status: Int32) -> VerbsConnectMessage {
        var m = VerbsConnectMessage(kind: .reject)
        m.status = status
        return m
    }

    /// The addressing of a request or accept.
    public var endpoint: VerbsEndpoint {
        VerbsEndpoint(queuePairNumber: self.queuePairNumber, packetSequenceNumber: self.packetSequenceNumber,
                      lid: self.lid, gid: self.gid, mtu: self.mtu, linkLayer: self.linkLayer,
                      initiatorDepth: self.initiatorDepth, responderResources: self.responderResources)
    }

    /// Why a message was refused.
    public enum DecodeError: Error, Equatable, Sendable {
        case truncated(Int)
        case badMagic(UInt32)
        case unsupportedVersion(UInt8)
        case badLength(UInt16)
        case badKind(UInt8)
        case badField(String)
    }

    public func encoded() -> [UInt8] {
        var w = WireWriter(capacity: Self.size)
        w.u32(Self.magic, bigEndian: true)
        w.u8(Self.version)
        w.u8(self.kind.rawValue)
        w.u16(UInt16(Self.size), bigEndian: true)
        w.u32(self.queuePairNumber, bigEndian: true)
        w.u32(self.packetSequenceNumber, bigEndian: true)
        w.u16(self.lid, bigEndian: true)
        w.u8(self.mtu)
        w.u8(self.linkLayer.rawValue)
        w.raw(Array((self.gid + Array(repeating: 0, count: 16)).prefix(16)))
        w.u8(self.initiatorDepth)
        w.u8(self.responderResources)
        w.u16(0, bigEndian: true)
        w.u32(UInt32(bitPattern: self.status), bigEndian: true)
        w.u32(0, bigEndian: true)
        return w.bytes
    }

    /// Validates the first ``headerSize`` bytes and returns the whole message's length, so a
    /// stream reader knows how much more to read (never more than ``maxSize``).
    public static func messageLength(header: [UInt8]) -> Result<Int, DecodeError> {
        guard header.count >= Self.headerSize else { return .failure(.truncated(header.count)) }
        var r = WireReader(header)
        let magic = r.u32(bigEndian: true)!
        guard magic == Self.magic else { return .failure(.badMagic(magic)) }
        let version = r.u8()!
        guard version == Self.version else { return .failure(.unsupportedVersion(version)) }
        _ = r.u8()!
        let length = r.u16(bigEndian: true)!
        guard Int(length) >= Self.size, Int(length) <= Self.maxSize else { return .failure(.badLength(length)) }
        return .success(Int(length))
    }

    /// Decodes one whole message (header included) and checks every field its kind uses.
    public static func decode(_ bytes: [UInt8]) -> Result<VerbsConnectMessage, DecodeError> {
        let length: Int
        switch Self.messageLength(header: bytes) {
        case .success(let n): length = n
        case .failure(let e): return .failure(e)
        }
        guard bytes.count >= length else { return .failure(.truncated(bytes.count)) }
        var r = WireReader(bytes)
        _ = r.u32(bigEndian: true)!
        _ = r.u8()!
        let rawKind = r.u8()!
        guard let kind = Kind(rawValue: rawKind) else { return .failure(.badKind(rawKind)) }
        _ = r.u16(bigEndian: true)!
        var m = VerbsConnectMessage(kind: kind)
        m.queuePairNumber = r.u32(bigEndian: true)!
        m.packetSequenceNumber = r.u32(bigEndian: true)!
        m.lid = r.u16(bigEndian: true)!
        m.mtu = r.u8()!
        let rawLink = r.u8()!
        m.gid = r.raw(16)!
        m.initiatorDepth = r.u8()!
        m.responderResources = r.u8()!
        _ = r.u16(bigEndian: true)!
        m.status = Int32(bitPattern: r.u32(bigEndian: true)!)
        switch kind {
        case .request, .accept:
            guard m.queuePairNumber != 0, m.queuePairNumber <= 0xFF_FFFF else { return .failure(.badField("QP number")) }
            guard m.packetSequenceNumber <= 0xFF_FFFF else { return .failure(.badField("PSN")) }
            guard (1...5).contains(m.mtu) else { return .failure(.badField("MTU")) }
            guard let link = LinkLayer(rawValue: rawLink) else { return .failure(.badField("link layer")) }
            m.linkLayer = link
            guard m.status == 0 else { return .failure(.badField("status")) }
        case .reject:
            guard m.status != 0 else { return .failure(.badField("status")) }
        case .ready:
            break
        }
        return .success(m)
    }
}

/// What one side tells the other about its queue pair.
public struct VerbsEndpoint: Equatable, Sendable {
    public var queuePairNumber: UInt32
    public var packetSequenceNumber: UInt32
    public var lid: UInt16
    public var gid: [UInt8]
    /// `enum ibv_mtu` (1…5).
    public var mtu: UInt8
    public var linkLayer: VerbsConnectMessage.LinkLayer
    public var initiatorDepth: UInt8
    public var responderResources: UInt8

    public init(queuePairNumber: UInt32, packetSequenceNumber: UInt32, lid: UInt16, gid: [UInt8], mtu: UInt8,
                linkLayer: VerbsConnectMessage.LinkLayer, initiatorDepth: UInt8, responderResources: UInt8) {
        self.queuePairNumber = queuePairNumber
        self.packetSequenceNumber = packetSequenceNumber
        self.lid = lid
        self.gid = gid
        self.mtu = mtu
        self.linkLayer = linkLayer
        self.initiatorDepth = initiatorDepth
        self.responderResources = responderResources
    }

    /// True when the GID is all zeros (no GID table entry).
    public var hasGID: Bool { self.gid.contains { $0 != 0 } }
}
