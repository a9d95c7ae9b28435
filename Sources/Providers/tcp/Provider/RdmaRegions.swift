import SanCore
import Synchronization

/// One WSPRegisterRdmaMemory registration: memory the connected peer may RDMA-read and/or
/// RDMA-write, named on the wire by `id` and guarded by `grant.key` (Docs/TCPProvider.md).
///
/// Every data movement into or out of the region runs inside ``withLive(_:)``, which holds the
/// region's lock for the duration of one copy or one readv/writev. Revocation takes the same
/// lock, so once ``revoke()`` returns no byte of the region is touched again.
final class RdmaRegion: Sendable {
    let id: UInt64
    let grant: RegionGrant
    private let revoked = Mutex(false)

    init(id: UInt64, grant: RegionGrant) {
        self.id = id
        self.grant = grant
    }

    /// Runs `body` with the region's base address while the region is live; nil once revoked.
    func withLive<R>(_ body: (UInt) -> R) -> R? {
        self.revoked.withLock { revoked in revoked ? nil : body(self.grant.base) }
    }

    func revoke() { self.revoked.withLock { $0 = true } }

    var isRevoked: Bool { self.revoked.withLock { $0 } }
}

/// The RDMA registrations of one connection, reference-counted per (range, access) like the
/// local ones (reference §1.4, §1.5).
final class RdmaRegionTable: Sendable {
    private static let nextId = Atomic<UInt64>(0x5200_0000)
    private struct Entry {
        let region: RdmaRegion
        var references: Int
    }
    private let entries = Mutex([UInt64: Entry]())

    /// Registers [base, base+length) with `access` for the peer: the same live range and access
    /// returns the same region with one more reference, anything else a new region with a fresh
    /// id and key.
    func register(base: UInt, length: UInt64, access: SanAccess) -> RdmaRegion {
        self.entries.withLock { entries in
            if let (id, hit) = entries.first(where: {
                $0.value.region.grant.base == base && $0.value.region.grant.length == length
                    && $0.value.region.grant.access == access
            }) {
                entries[id]!.references += 1
                return hit.region
            }
            let id = Self.nextId.add(1, ordering: .relaxed).newValue
            let region = RdmaRegion(id: id, grant: RegionGrant(base: base, length: length, access: access,
                                                              key: Sys.randomKey()))
            entries[id] = Entry(region: region, references: 1)
            return region
        }
    }

    /// Drops one reference to the region the descriptor names; the last one revokes it at once.
    /// False when the descriptor names no region of this table (or carries the wrong key).
    func deregister(_ descriptor: RdmaDescriptor) -> Bool {
        let (found, last): (Bool, RdmaRegion?) = self.entries.withLock { entries in
            guard var entry = entries[descriptor.region], entry.region.grant.key == descriptor.key else {
                return (false, nil)
            }
            entry.references -= 1
            entries[descriptor.region] = entry.references > 0 ? entry : nil
            return (true, entry.references > 0 ? nil : entry.region)
        }
        last?.revoke()
        return found
    }

    /// The live region with this id.
    func lookup(_ id: UInt64) -> RdmaRegion? { self.entries.withLock { $0[id]?.region } }

    /// WSPMemoryRegistrationCacheCallback: revokes every region lying entirely inside
    /// [base, base+length), whatever its reference count (the memory is going away).
    @discardableResult
    func evict(inside base: UInt, length: UInt) -> Int {
        let victims: [RdmaRegion] = self.entries.withLock { entries in
            let hits = entries.values.filter {
                Bounds.contains(base: base, length: length, address: $0.region.grant.base,
                                count: UInt($0.region.grant.length))
            }.map(\.region)
            for r in hits { entries[r.id] = nil }
            return hits
        }
        for r in victims { r.revoke() }
        return victims.count
    }

    /// Revokes everything (socket close).
    func revokeAll() {
        let all = self.entries.withLock { entries -> [RdmaRegion] in
            let all = entries.values.map(\.region)
            entries.removeAll()
            return all
        }
        for r in all { r.revoke() }
    }

    var count: Int { self.entries.withLock { $0.count } }
}
