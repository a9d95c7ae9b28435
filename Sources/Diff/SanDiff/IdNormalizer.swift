import SanTraceFormat

/// Maps capture ids to ids that do not depend on how a run's threads interleaved.
///
/// The interposer numbers objects (sockets, registrations, overlapped structures …) in the order
/// it first sees them across all threads, so two runs of the same program get different raw ids
/// whenever two threads race to create objects. Here an object's id is the thread that first
/// named it (by the thread's rank, see ``ThreadRanks``) and its ordinal among the objects of its
/// kind that thread named first: `rank << 24 | ordinal`. One endpoint, one table per kind.
struct IdNormalizer {
    /// Object kinds with capture ids.
    enum Kind: Int, CaseIterable {
        case socket, switchSocket, memHandle, rdmaDescriptor, overlapped, event
    }

    /// Raw ids below this go through flat tables (capture ids are small and dense).
    static let flatLimit: UInt64 = 1 << 22
    private var flat: [[UInt32]] = Array(repeating: [], count: Kind.allCases.count)
    private var overflow: [[UInt64: UInt32]] = Array(repeating: [:], count: Kind.allCases.count)
    /// Per kind, per thread rank: objects that thread named first so far.
    private var ordinals: [[UInt32]] = Array(repeating: [], count: Kind.allCases.count)

    /// The normalized id of raw capture id `raw` of `kind`, first named by the thread of `rank`
    /// if it is new. Raw 0 (none) stays 0.
    @inline(__always)
    mutating func id(_ kind: Kind, _ raw: UInt64, rank: Int) -> UInt32 {
        if raw == 0 { return 0 }
        let k = kind.rawValue
        if raw < Self.flatLimit {
            let i = Int(raw)
            if i < self.flat[k].count {
                let v = self.flat[k][i]
                if v != 0 { return v }
            } else {
                self.flat[k].append(contentsOf: repeatElement(0, count: max(i + 1 - self.flat[k].count, self.flat[k].count)))
            }
            let v = self.next(k, rank)
            self.flat[k][i] = v
            return v
        }
        if let v = self.overflow[k][raw] { return v }
        let v = self.next(k, rank)
        self.overflow[k][raw] = v
        return v
    }

    private mutating func next(_ k: Int, _ rank: Int) -> UInt32 {
        if rank >= self.ordinals[k].count {
            self.ordinals[k].append(contentsOf: repeatElement(0, count: rank + 1 - self.ordinals[k].count))
        }
        self.ordinals[k][rank] &+= 1
        return UInt32(truncatingIfNeeded: rank & 0xFF) << 24 | (self.ordinals[k][rank] & 0xFF_FFFF)
    }

    /// The kind of a field type holding a capture id, nil for other types.
    @inline(__always)
    static func kind(_ t: FieldType) -> Kind? {
        switch t {
        case .socket: return .socket
        case .switchSocket: return .switchSocket
        case .memHandle: return .memHandle
        case .rdmaDescriptor: return .rdmaDescriptor
        case .overlapped: return .overlapped
        case .event: return .event
        default: return nil
        }
    }
}

/// Thread capture ids → ranks: those of the plan (``ThreadMatching``), then 1 + the highest
/// planned rank, and so on, for a thread the plan does not know, in order of first sight.
struct ThreadRanks {
    private var ranks = [UInt16](repeating: 0, count: 65536)
    private var next: Int

    init(plan: [UInt32: Int] = [:]) {
        for (t, r) in plan { self.ranks[Int(t & 0xFFFF)] = UInt16(truncatingIfNeeded: r) }
        self.next = plan.values.max() ?? 0
    }

    /// The rank of `thread` (assigned on first sight when the plan has none).
    @inline(__always)
    mutating func rank(_ thread: UInt32) -> Int {
        let t = Int(thread & 0xFFFF)
        let r = self.ranks[t]
        if r != 0 { return Int(r) }
        self.next += 1
        self.ranks[t] = UInt16(truncatingIfNeeded: self.next)
        return self.next
    }
}

/// A 64-bit hash step (wyhash-style multiply-mix): order-sensitive combination of field values.
@inline(__always)
func mix(_ h: UInt64, _ v: UInt64) -> UInt64 {
    let m = (h ^ v) &* 0x9E37_79B9_7F4A_7C15
    return (m ^ (m >> 29)) &* 0xBF58_476D_1CE4_E5B9
}

/// FNV-1a 64 over bytes (option values, ioctl buffers, GUIDs, full payloads).
@inline(__always)
func fnv(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
    return h
}
