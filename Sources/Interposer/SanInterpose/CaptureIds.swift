/// Capture ids of one object kind: raw value → id, ids from 1, never reused within a trace.
/// `create` starts a new lifetime (the provider may hand out a value again after a close).
struct CaptureIds {
    private var ids: [UInt64: UInt64] = [:]
    private(set) var next: UInt64 = 1
    /// The raw value meaning "none" (0, or INVALID_SOCKET for sockets).
    let none: Set<UInt64>

    init(none: Set<UInt64> = [0]) { self.none = none }

    mutating func id(_ raw: UInt64) -> UInt64 {
        if self.none.contains(raw) { return 0 }
        if let id = self.ids[raw] { return id }
        return self.create(raw)
    }

    mutating func create(_ raw: UInt64) -> UInt64 {
        if self.none.contains(raw) { return 0 }
        let id = self.next
        self.next += 1
        self.ids[raw] = id
        return id
    }

    mutating func remove(_ raw: UInt64) { self.ids[raw] = nil }
}

/// Memory registrations: handle → registration id (reference-counted, as providers may return
/// the same handle for the same buffer), and address → (registration id, offset) by range.
struct Registrations {
    private struct Range {
        var start: UInt64
        var end: UInt64
        var id: UInt64
    }
    private var handles: [UInt64: (id: UInt64, refs: Int)] = [:]
    private var ranges: [Range] = []
    private var lastHit = 0
    private(set) var next: UInt64 = 1

    mutating func register(handle: UInt64, address: UInt64, length: UInt64) -> UInt64 {
        if handle == 0 { return 0 }
        if var h = self.handles[handle] {
            h.refs += 1
            self.handles[handle] = h
            return h.id
        }
        let id = self.next
        self.next += 1
        self.handles[handle] = (id, 1)
        self.ranges.append(Range(start: address, end: address &+ length, id: id))
        return id
    }

    mutating func id(handle: UInt64) -> UInt64 {
        if handle == 0 { return 0 }
        if let h = self.handles[handle] { return h.id }
        let id = self.next  // a handle registered before tracing began (or by another layer)
        self.next += 1
        self.handles[handle] = (id, 1)
        return id
    }

    mutating func deregister(handle: UInt64) {
        guard var h = self.handles[handle] else { return }
        h.refs -= 1
        if h.refs > 0 {
            self.handles[handle] = h
            return
        }
        self.handles[handle] = nil
        self.ranges.removeAll { $0.id == h.id }
        self.lastHit = 0
    }

    /// The newest registration covering `address`, as (id, offset); (0, address) when none does.
    mutating func locate(_ address: UInt64) -> (UInt64, UInt64) {
        if self.lastHit < self.ranges.count {
            let r = self.ranges[self.lastHit]
            if address >= r.start && address < r.end { return (r.id, address - r.start) }
        }
        var i = self.ranges.count - 1
        while i >= 0 {
            let r = self.ranges[i]
            if address >= r.start && address < r.end {
                self.lastHit = i
                return (r.id, address - r.start)
            }
            i -= 1
        }
        return (0, address)
    }
}
