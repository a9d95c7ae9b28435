/// Why a frame, a descriptor or a handshake message was refused. The raw value travels in an
/// ABORT frame (Docs/TCPProvider.md, "Abort reasons") and never changes meaning; new reasons take
/// new numbers.
public enum WireError: UInt32, Error, Sendable, CaseIterable, CustomStringConvertible {
    /// Reserved bits set, a length that cannot be right for the frame type, a bad handshake.
    case malformed = 1
    /// A frame type this version does not define.
    case unknownType = 2
    /// The descriptor's magic, version, reserved bytes or access field is wrong.
    case badDescriptor = 3
    /// The descriptor belongs to another connection.
    case wrongConnection = 4
    /// No live registration with that id on this connection (never existed, or revoked).
    case unknownRegion = 5
    /// The key does not match the registration's.
    case badKey = 6
    /// The registration does not grant the access the request needs.
    case accessDenied = 7
    /// The request reaches outside the registered range.
    case outOfBounds = 8
    /// Longer than SO_MAX_MSG_SIZE (a send) or SO_MAX_RDMA_SIZE (an RDMA request).
    case tooLong = 9
    /// A read response nobody asked for, or of the wrong length.
    case unexpectedResponse = 10
    /// The region was revoked while a transfer was using it.
    case revokedInFlight = 11
    /// An ACK of RDMA writes that were never sent, or one that does not move forward.
    case unexpectedAck = 12
    /// A handshake message of a protocol version this side does not speak (in REFUSE).
    case unsupportedVersion = 13

    public var description: String {
        switch self {
        case .malformed: return "malformed frame"
        case .unknownType: return "unknown frame type"
        case .badDescriptor: return "bad descriptor"
        case .wrongConnection: return "descriptor of another connection"
        case .unknownRegion: return "unknown or revoked region"
        case .badKey: return "bad key"
        case .accessDenied: return "access denied"
        case .outOfBounds: return "out of bounds"
        case .tooLong: return "too long"
        case .unexpectedResponse: return "unexpected read response"
        case .revokedInFlight: return "region revoked during a transfer"
        case .unexpectedAck: return "acknowledgement of writes never sent"
        case .unsupportedVersion: return "unsupported protocol version"
        }
    }
}
