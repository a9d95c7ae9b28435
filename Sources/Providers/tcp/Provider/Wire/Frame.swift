/// The frames a connection carries after the handshake (Docs/TCPProvider.md, "Frames"). Every
/// frame is a 16-byte common header, a fixed type-specific extension, then `length` data bytes:
///
///     0  1  type
///     1  1  flags, zero
///     2  2  reserved, zero
///     4  4  data length (bytes after the extension)
///     8  8  tag: the read request id (READ_REQUEST, READ_RESPONSE), the number of RDMA writes
///           placed (ACK), the refused frame's id (ABORT); zero for every other type
///
/// | type | name          | extension                                             | data            |
/// |------|---------------|-------------------------------------------------------|-----------------|
/// | 1    | SEND          | none                                                  | the message     |
/// | 2    | RDMA_WRITE    | descriptor (56), offset u64                           | bytes to write  |
/// | 3    | READ_REQUEST  | descriptor (56), offset u64, length u32, reserved u32 | none            |
/// | 4    | READ_RESPONSE | none                                                  | the bytes read  |
/// | 5    | CLOSE         | none                                                  | none            |
/// | 6    | ABORT         | reason u32, refused type u8, reserved 3 bytes          | none            |
/// | 7    | ACK           | none                                                  | none            |
public enum FrameType: UInt8, Sendable, CaseIterable {
    case send = 1
    case rdmaWrite = 2
    case readRequest = 3
    case readResponse = 4
    case close = 5
    case abort = 6
    case ack = 7

    /// Bytes of the type-specific extension after the common header.
    public var extensionSize: Int {
        switch self {
        case .rdmaWrite: return RdmaDescriptor.size + 8
        case .readRequest: return RdmaDescriptor.size + 16
        case .abort: return 8
        case .send, .readResponse, .close, .ack: return 0
        }
    }

    /// Header plus extension: what must be read before the data.
    public var prologueSize: Int { Frame.headerSize + self.extensionSize }
}

/// An RDMA request as it travels: the target's descriptor, the offset into its region, and the
/// length (the data length for a write, the requested length for a read).
public struct RdmaRequest: Sendable, Equatable {
    public var descriptor: RdmaDescriptor
    public var offset: UInt64
    public var length: UInt32

    public init(descriptor: RdmaDescriptor, offset: UInt64, length: UInt32) {
        self.descriptor = descriptor
        self.offset = offset
        self.length = length
    }
}

/// Which frame an ABORT refuses: its type and its id — for an RDMA_WRITE its sequence number
/// (the writes a side sends are numbered 1, 2, 3 … in stream order), for a READ_REQUEST its
/// tag. The initiator fails exactly that operation with WSAECONNABORTED.
public struct RefusedFrame: Sendable, Equatable {
    public var type: FrameType
    public var id: UInt64

    public init(type: FrameType, id: UInt64) {
        self.type = type
        self.id = id
    }
}

/// A decoded frame prologue.
public enum Frame: Sendable, Equatable {
    case send(length: UInt32)
    case rdmaWrite(RdmaRequest)
    case readRequest(RdmaRequest, tag: UInt64)
    case readResponse(tag: UInt64, length: UInt32)
    case close
    /// The sender refused something and ends the connection; `refused` names the frame when the
    /// refusal concerns one the peer sent.
    case abort(reason: UInt32, refused: RefusedFrame?)
    /// Cumulative acknowledgement: the sender has placed the first `placed` RDMA writes it
    /// received on this connection.
    case ack(placed: UInt64)

    public static let headerSize = 16
    /// The longest prologue (READ_REQUEST).
    public static let maxPrologueSize = headerSize + RdmaDescriptor.size + 16

    public var type: FrameType {
        switch self {
        case .send: return .send
        case .rdmaWrite: return .rdmaWrite
        case .readRequest: return .readRequest
        case .readResponse: return .readResponse
        case .close: return .close
        case .abort: return .abort
        case .ack: return .ack
        }
    }

    /// Data bytes that follow the prologue.
    public var dataLength: UInt32 {
        switch self {
        case .send(let n): return n
        case .rdmaWrite(let r): return r.length
        case .readResponse(_, let n): return n
        case .readRequest, .close, .abort, .ack: return 0
        }
    }

    /// Writes the prologue (header and extension) to `p`, which must hold `type.prologueSize`
    /// bytes, and returns that size.
    @discardableResult
    public func encode(into p: UnsafeMutableRawPointer) -> Int {
        var tag: UInt64 = 0
        switch self {
        case .readRequest(_, let t), .readResponse(let t, _), .ack(let t): tag = t
        case .abort(_, let refused): tag = refused?.id ?? 0
        case .send, .rdmaWrite, .close: break
        }
        p.storeBytes(of: self.type.rawValue, toByteOffset: 0, as: UInt8.self)
        p.storeBytes(of: UInt8(0), toByteOffset: 1, as: UInt8.self)
        p.storeBytes(of: UInt16(0), toByteOffset: 2, as: UInt16.self)
        p.storeBytes(of: self.dataLength.littleEndian, toByteOffset: 4, as: UInt32.self)
        p.storeBytes(of: tag.littleEndian, toByteOffset: 8, as: UInt64.self)
        let ext = p.advanced(by: Self.headerSize)
        switch self {
        case .rdmaWrite(let r):
            r.descriptor.encode(into: ext)
            ext.storeBytes(of: r.offset.littleEndian, toByteOffset: RdmaDescriptor.size, as: UInt64.self)
        case .readRequest(let r, _):
            r.descriptor.encode(into: ext)
            ext.storeBytes(of: r.offset.littleEndian, toByteOffset: RdmaDescriptor.size, as: UInt64.self)
            ext.storeBytes(of: r.length.littleEndian, toByteOffset: RdmaDescriptor.size + 8, as: UInt32.self)
            ext.storeBytes(of: UInt32(0), toByteOffset: RdmaDescriptor.size + 12, as: UInt32.self)
        case .abort(let reason, let refused):
            ext.storeBytes(of: reason.littleEndian, toByteOffset: 0, as: UInt32.self)
            ext.storeBytes(of: UInt32(refused?.type.rawValue ?? 0).littleEndian, toByteOffset: 4, as: UInt32.self)
        case .send, .readResponse, .close, .ack:
            break
        }
        return self.type.prologueSize
    }

    /// The prologue as bytes.
    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: self.type.prologueSize)
        out.withUnsafeMutableBytes { _ = self.encode(into: $0.baseAddress!) }
        return out
    }

    /// The prologue size announced by the first header bytes: `.unknownType` for a type byte
    /// this version does not define. Needs at least one byte.
    public static func prologueSize(firstByte: UInt8) -> Result<Int, WireError> {
        guard let type = FrameType(rawValue: firstByte) else { return .failure(.unknownType) }
        return .success(type.prologueSize)
    }

    /// Decodes a whole prologue (exactly `prologueSize` bytes) and checks everything that does
    /// not depend on the receiver's state: reserved fields zero, tags only where they belong, no
    /// data on frames that carry none, a well-formed descriptor. Length limits, keys, regions and
    /// bounds are the receiver's checks.
    public static func decode(_ raw: UnsafeRawBufferPointer) -> Result<Frame, WireError> {
        guard raw.count >= Self.headerSize, let p = raw.baseAddress else { return .failure(.malformed) }
        guard let type = FrameType(rawValue: p.load(fromByteOffset: 0, as: UInt8.self)) else {
            return .failure(.unknownType)
        }
        guard raw.count == type.prologueSize else { return .failure(.malformed) }
        guard p.load(fromByteOffset: 1, as: UInt8.self) == 0,
              p.loadUnaligned(fromByteOffset: 2, as: UInt16.self) == 0 else { return .failure(.malformed) }
        let length = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        let tag = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        let ext = UnsafeRawBufferPointer(rebasing: raw[Self.headerSize...])
        switch type {
        case .send:
            return tag == 0 ? .success(.send(length: length)) : .failure(.malformed)
        case .readResponse:
            return .success(.readResponse(tag: tag, length: length))
        case .close:
            return tag == 0 && length == 0 ? .success(.close) : .failure(.malformed)
        case .ack:
            return tag != 0 && length == 0 ? .success(.ack(placed: tag)) : .failure(.malformed)
        case .abort:
            // The refused type is one byte followed by three reserved ones; no type, no id.
            let refusedWord = UInt32(littleEndian: ext.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
            guard length == 0, refusedWord <= 0xFF else { return .failure(.malformed) }
            let reason = UInt32(littleEndian: ext.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
            if refusedWord == 0 {
                return tag == 0 ? .success(.abort(reason: reason, refused: nil)) : .failure(.malformed)
            }
            guard let type = FrameType(rawValue: UInt8(refusedWord)) else { return .failure(.malformed) }
            return .success(.abort(reason: reason, refused: RefusedFrame(type: type, id: tag)))
        case .rdmaWrite:
            guard tag == 0 else { return .failure(.malformed) }
            return Self.request(ext, length: length).map { .rdmaWrite($0) }
        case .readRequest:
            guard length == 0,
                  ext.loadUnaligned(fromByteOffset: RdmaDescriptor.size + 12, as: UInt32.self) == 0 else {
                return .failure(.malformed)
            }
            let wanted = UInt32(littleEndian: ext.loadUnaligned(fromByteOffset: RdmaDescriptor.size + 8, as: UInt32.self))
            return Self.request(ext, length: wanted).map { .readRequest($0, tag: tag) }
        }
    }

    public static func decode(_ bytes: [UInt8]) -> Result<Frame, WireError> {
        bytes.withUnsafeBytes { self.decode($0) }
    }

    private static func request(_ ext: UnsafeRawBufferPointer, length: UInt32) -> Result<RdmaRequest, WireError> {
        RdmaDescriptor.decode(UnsafeRawBufferPointer(rebasing: ext[0..<RdmaDescriptor.size])).map { d in
            let offset = UInt64(littleEndian: ext.loadUnaligned(fromByteOffset: RdmaDescriptor.size, as: UInt64.self))
            return RdmaRequest(descriptor: d, offset: offset, length: length)
        }
    }
}
