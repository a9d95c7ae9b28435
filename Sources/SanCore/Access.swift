import CSanABI

/// Registration rights, `dwFlags` of WSPRegisterMemory and WSPRegisterRdmaMemory (reference §1.2,
/// §1.4). For local registrations they say what the provider may do with the buffer (read it as a
/// source, write it as a sink); for RDMA registrations they say what the *peer* may do.
@frozen
public struct SanAccess: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `MEM_READ` (1)
    public static let read = SanAccess(rawValue: UInt32(MEM_READ))
    /// `MEM_WRITE` (2)
    public static let write = SanAccess(rawValue: UInt32(MEM_WRITE))
    /// `MEM_READWRITE` (3)
    public static let readWrite: SanAccess = [.read, .write]

    /// True when the raw flags are exactly one of MEM_READ, MEM_WRITE, MEM_READWRITE.
    public var isValid: Bool { self.rawValue >= 1 && self.rawValue <= 3 }

    public var description: String {
        switch self.rawValue {
        case 1: return "MEM_READ"
        case 2: return "MEM_WRITE"
        case 3: return "MEM_READWRITE"
        default: return "0x\(String(self.rawValue, radix: 16))"
        }
    }
}
