import CSanTrace
import Glibc

/// Capture ids of one object kind (sockets, switch sockets, events, overlapped structures): raw
/// value → id, ids from 1, never reused within a trace.
///
/// `create` starts a new lifetime (the provider may hand out a value again after a close), with
/// one exception for a race between rings: an object used on one thread can be drained before
/// the call that created it on another (the drain read the creating thread's ring a moment
/// earlier). Such a use gets a provisional id; the creation that follows adopts it instead of
/// starting a second lifetime. Ids are stored shifted left by one, bit 0 = created.
struct CaptureIds {
    private var ids = RawMap<UInt64>(filler: 0)
    private(set) var next: UInt64 = 1
    /// A raw value besides 0 meaning "none" (INVALID_SOCKET for sockets).
    let invalid: UInt64

    init(invalid: UInt64 = 0) { self.invalid = invalid }

    @inline(__always)
    mutating func id(_ raw: UInt64) -> UInt64 {
        if raw == 0 || raw == self.invalid { return 0 }
        if let v = self.ids.get(raw) { return v >> 1 }
        let id = self.next
        self.next += 1
        self.ids.set(raw, id << 1)
        return id
    }

    mutating func create(_ raw: UInt64) -> UInt64 {
        if raw == 0 || raw == self.invalid { return 0 }
        if let v = self.ids.get(raw), v & 1 == 0 {
            self.ids.set(raw, v | 1)
            return v >> 1
        }
        let id = self.next
        self.next += 1
        self.ids.set(raw, id << 1 | 1)
        return id
    }

    mutating func remove(_ raw: UInt64) { self.ids.remove(raw) }
}

/// Memory registrations: WSPRegisterMemory handle → registration id (reference-counted, as a
/// provider may return the same handle for the same buffer), and address → (registration id,
/// offset) by range, so buffers are recorded relative to their registration, never as pointers.
struct Registrations {
    private struct Range {
        var start: UInt64
        var end: UInt64
        var id: UInt64
    }
    /// handle → id << 32 | references.
    private var handles = RawMap<UInt64>(filler: 0)
    /// Sorted by start; ranges may overlap (the newest covering range wins).
    private var ranges: [Range] = []
    private var longest: UInt64 = 0
    private var lastHit = -1
    /// Some ranges overlap: the last hit may not be the newest covering range, so always search.
    private var overlapping = false
    /// The last address found in no range, valid while `generation` is unchanged: a program
    /// sending from unregistered memory looks the same address up every call.
    private var lastMiss: UInt64 = 0
    private var missGeneration: UInt64 = 0
    private var generation: UInt64 = 1
    private(set) var next: UInt64 = 1

    mutating func register(handle: UInt64, address: UInt64, length: UInt64) -> UInt64 {
        if handle == 0 { return 0 }
        if let h = self.handles.get(handle) {
            self.handles.set(handle, h &+ 1)
            return h >> 32
        }
        let id = self.next
        self.next += 1
        self.handles.set(handle, id << 32 | 1)
        let r = Range(start: address, end: address &+ length, id: id)
        if self.ranges.contains(where: { $0.start < r.end && r.start < $0.end }) { self.overlapping = true }
        var i = self.ranges.count
        while i > 0 && self.ranges[i - 1].start > address { i -= 1 }
        self.ranges.insert(r, at: i)
        self.longest = max(self.longest, length)
        self.changed()
        return id
    }

    /// The id of a handle; a handle never seen registered (made before tracing began, or by
    /// another layer) gets one now.
    @inline(__always)
    mutating func id(handle: UInt64) -> UInt64 {
        if handle == 0 { return 0 }
        if let h = self.handles.get(handle) { return h >> 32 }
        let id = self.next
        self.next += 1
        self.handles.set(handle, id << 32 | 1)
        return id
    }

    mutating func deregister(handle: UInt64) {
        guard let h = self.handles.get(handle) else { return }
        if h & 0xFFFF_FFFF > 1 {
            self.handles.set(handle, h &- 1)
            return
        }
        self.handles.remove(handle)
        let id = h >> 32
        self.ranges.removeAll { $0.id == id }
        if self.ranges.isEmpty { self.overlapping = false }
        self.changed()
    }

    private mutating func changed() {
        self.generation &+= 1
        self.lastHit = -1
    }

    /// The newest registration covering `address`, as (id, offset); (0, address) when none does.
    @inline(__always)
    mutating func locate(_ address: UInt64) -> (UInt64, UInt64) {
        if self.lastHit >= 0 && !self.overlapping {
            let r = self.ranges[self.lastHit]
            if address >= r.start && address < r.end { return (r.id, address &- r.start) }
        }
        if address == self.lastMiss && self.missGeneration == self.generation { return (0, address) }
        return self.search(address)
    }

    private mutating func search(_ address: UInt64) -> (UInt64, UInt64) {
        // The last range starting at or before the address, then back while a range that long
        // could still cover it.
        var lo = 0, hi = self.ranges.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if self.ranges[mid].start <= address { lo = mid + 1 } else { hi = mid }
        }
        var best = -1
        var i = lo - 1
        while i >= 0 && address &- self.ranges[i].start < self.longest {
            let r = self.ranges[i]
            if address < r.end && (best < 0 || r.id > self.ranges[best].id) { best = i }
            i -= 1
        }
        guard best >= 0 else {
            self.lastMiss = address
            self.missGeneration = self.generation
            return (0, address)
        }
        self.lastHit = best
        let r = self.ranges[best]
        return (r.id, address &- r.start)
    }
}

/// RDMA descriptors by their bytes: a descriptor this process registers gets a new id at its
/// WSPRegisterRdmaMemory; one received from the peer gets an id the first time it is used (its
/// bytes go once into the trace's `descriptors` table).
struct Descriptors {
    private var byHash = RawMap<UInt64>(filler: 0)
    /// Bytes of each id (index id - 1), to confirm a hash match.
    private var bytes: [[UInt8]] = []

    /// The id of a newly registered descriptor.
    mutating func create(_ b: UnsafeRawBufferPointer) -> UInt64 {
        if b.isEmpty { return 0 }
        self.bytes.append(Array(b))
        let id = UInt64(self.bytes.count)
        self.byHash.set(Self.hash(b), id)
        return id
    }

    /// The id of a descriptor named by a call; `isNew` when it was never seen (a remote one).
    /// (Every RDMA write and read names one: a data-path cost.)
    mutating func id(_ b: UnsafeRawBufferPointer) -> (id: UInt64, isNew: Bool) {
        if b.isEmpty { return (0, false) }
        if self.last > 0, Self.same(self.bytes[Int(self.last) - 1], b) { return (self.last, false) }
        let h = Self.hash(b)
        if let id = self.byHash.get(h), Self.same(self.bytes[Int(id) - 1], b) {
            self.last = id
            return (id, false)
        }
        if let i = self.bytes.lastIndex(where: { Self.same($0, b) }) { return (UInt64(i + 1), false) }  // a hash collision
        return (self.create(b), true)
    }

    /// The descriptor found last (a loop writes into one target again and again).
    private var last: UInt64 = 0

    private static func same(_ a: [UInt8], _ b: UnsafeRawBufferPointer) -> Bool {
        a.count == b.count && a.withUnsafeBytes { memcmp($0.baseAddress!, b.baseAddress!, b.count) == 0 }
    }

    private static func hash(_ b: UnsafeRawBufferPointer) -> UInt64 {
        let h = csan_xxh64(b.baseAddress, b.count, 0)
        return h == 0 ? 1 : h
    }
}
