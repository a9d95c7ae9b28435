import SanCore

/// `enum ibv_access_flags` as plain bits, so the SAN → verbs mapping is testable without a device
/// (the values are libibverbs' ABI; a test checks them against verbs.h).
public struct VerbsAccess: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `IBV_ACCESS_LOCAL_WRITE`: the adapter may write the region (receives, RDMA read sinks).
    public static let localWrite = VerbsAccess(rawValue: 1 << 0)
    /// `IBV_ACCESS_REMOTE_WRITE`: the peer may RDMA-write the region (needs `localWrite`).
    public static let remoteWrite = VerbsAccess(rawValue: 1 << 1)
    /// `IBV_ACCESS_REMOTE_READ`: the peer may RDMA-read the region.
    public static let remoteRead = VerbsAccess(rawValue: 1 << 2)

    public var description: String {
        var parts: [String] = []
        if self.contains(.localWrite) { parts.append("LOCAL_WRITE") }
        if self.contains(.remoteWrite) { parts.append("REMOTE_WRITE") }
        if self.contains(.remoteRead) { parts.append("REMOTE_READ") }
        return parts.isEmpty ? "0 (local read only)" : parts.joined(separator: "|")
    }
}

/// The reference's mapping of registration rights to verbs access flags (§5.2, as IBSP does it).
/// Local read is always allowed by verbs, so read-only local memory needs no flag at all; remote
/// write needs local write (ibv_reg_mr(3)).
public enum VerbsAccessMapping {
    /// WSPRegisterMemory: MEM_READ → 0; MEM_WRITE and MEM_READWRITE → LOCAL_WRITE. Anything else is
    /// WSAEINVAL (reference §1.2).
    public static func local(_ access: SanAccess) -> Result<VerbsAccess, WSAError> {
        guard access.isValid else { return .failure(.invalidArgument) }
        return .success(access.contains(.write) ? .localWrite : [])
    }

    /// WSPRegisterRdmaMemory, whose flags give the *peer's* rights: MEM_READ → REMOTE_READ;
    /// MEM_WRITE → LOCAL_WRITE|REMOTE_WRITE; MEM_READWRITE → all three (reference §1.4, §5.2).
    public static func remote(_ access: SanAccess) -> Result<VerbsAccess, WSAError> {
        guard access.isValid else { return .failure(.invalidArgument) }
        var flags: VerbsAccess = []
        if access.contains(.read) { flags.insert(.remoteRead) }
        if access.contains(.write) { flags.formUnion([.localWrite, .remoteWrite]) }
        return .success(flags)
    }

    /// What the queue pair itself allows the peer; each region's own flags then decide (a QP
    /// without REMOTE_READ would refuse every RDMA read whatever the region allows).
    public static let queuePair: VerbsAccess = [.localWrite, .remoteWrite, .remoteRead]
}
