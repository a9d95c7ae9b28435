import SanCore

/// What the target knows about one of its RDMA registrations when a request for it arrives.
public struct RegionGrant: Sendable, Equatable {
    public var base: UInt
    public var length: UInt64
    public var access: SanAccess
    public var key: Key128

    public init(base: UInt, length: UInt64, access: SanAccess, key: Key128) {
        self.base = base
        self.length = length
        self.access = access
        self.key = key
    }
}

/// The target's checks of an incoming RDMA request (Docs/TCPProvider.md, "What the target
/// checks"), in this order: the descriptor belongs to this connection; the region is live; the
/// key matches (constant time); the registration grants the access; the length is within
/// SO_MAX_RDMA_SIZE; the range lies inside the region (overflow-safe). Any failure refuses the
/// request and aborts the connection; success gives the address to move data to or from.
public enum RequestValidator {
    public static func validate(_ request: RdmaRequest, connection: Key128, grant: RegionGrant?, needs: SanAccess,
                                maxLength: UInt32) -> Result<UInt, WireError> {
        guard request.descriptor.connection == connection else { return .failure(.wrongConnection) }
        guard let grant else { return .failure(.unknownRegion) }
        guard request.descriptor.key == grant.key else { return .failure(.badKey) }
        guard grant.access.contains(needs) else { return .failure(.accessDenied) }
        guard request.length <= maxLength else { return .failure(.tooLong) }
        guard let address = Bounds.address(base: grant.base, length: grant.length, offset: request.offset,
                                           count: UInt64(request.length))
        else { return .failure(.outOfBounds) }
        return .success(address)
    }
}
