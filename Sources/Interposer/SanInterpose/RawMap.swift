/// A hash map from a raw 64-bit value (a pointer, a handle, an overlapped address) to a small
/// value, for the drain's per-event look-ups: open addressing with linear probing and
/// backward-shift deletion (no tombstones, so a map whose keys come and go never degrades), and
/// a one-entry cache in front (a steady loop names the same socket and overlapped again and
/// again). Key 0 marks an empty slot; the key 0 itself is kept aside.
///
/// Swift's Dictionary would do, at several times the cost per look-up (hashing with a per-process
/// seed, resilience); the drain does a few look-ups per event at millions of events per second.
struct RawMap<Value> {
    private var keys: [UInt64]
    private var values: [Value]
    private var mask: Int
    private var shift: UInt64
    private(set) var count = 0
    private let filler: Value
    private var zero: Value?
    private var cachedKey: UInt64 = 0
    private var cachedSlot = -1

    init(filler: Value, capacity: Int = 64) {
        var c = 16
        while c < capacity * 2 { c <<= 1 }
        self.keys = Array(repeating: 0, count: c)
        self.values = Array(repeating: filler, count: c)
        self.mask = c - 1
        self.shift = UInt64(64 - c.trailingZeroBitCount)
        self.filler = filler
    }

    @inline(__always)
    private func home(_ key: UInt64) -> Int {
        Int(truncatingIfNeeded: ((key ^ (key >> 29)) &* 0x9E37_79B9_7F4A_7C15) >> self.shift)
    }

    /// The slot holding `key`, or -1.
    @inline(__always)
    private mutating func find(_ key: UInt64) -> Int {
        if key == self.cachedKey && self.cachedSlot >= 0 { return self.cachedSlot }
        var i = self.home(key)
        while true {
            let k = self.keys[i]
            if k == key {
                self.cachedKey = key
                self.cachedSlot = i
                return i
            }
            if k == 0 { return -1 }
            i = (i &+ 1) & self.mask
        }
    }

    mutating func get(_ key: UInt64) -> Value? {
        if key == 0 { return self.zero }
        let i = self.find(key)
        return i < 0 ? nil : self.values[i]
    }

    mutating func set(_ key: UInt64, _ value: Value) {
        if key == 0 {
            if self.zero == nil { self.count += 1 }
            self.zero = value
            return
        }
        let i = self.find(key)
        if i >= 0 {
            self.values[i] = value
            return
        }
        if (self.count + 1) * 2 > self.keys.count { self.grow() }
        var j = self.home(key)
        while self.keys[j] != 0 { j = (j &+ 1) & self.mask }
        self.keys[j] = key
        self.values[j] = value
        self.count += 1
        self.cachedKey = key
        self.cachedSlot = j
    }

    /// Removes `key`; returns its value.
    @discardableResult
    mutating func remove(_ key: UInt64) -> Value? {
        if key == 0 {
            defer { self.zero = nil }
            if self.zero != nil { self.count -= 1 }
            return self.zero
        }
        var i = self.find(key)
        guard i >= 0 else { return nil }
        let old = self.values[i]
        self.cachedSlot = -1
        self.count -= 1
        // Backward shift: move later entries of the probe run into the hole when their home
        // position allows, so every remaining key stays reachable from its home slot.
        var j = i
        while true {
            j = (j &+ 1) & self.mask
            let k = self.keys[j]
            if k == 0 { break }
            let h = self.home(k)
            let movable = i <= j ? (h <= i || h > j) : (h <= i && h > j)
            if movable {
                self.keys[i] = k
                self.values[i] = self.values[j]
                i = j
            }
        }
        self.keys[i] = 0
        self.values[i] = self.filler
        return old
    }

    mutating func removeAll() {
        for i in self.keys.indices { self.keys[i] = 0 }
        for i in self.values.indices { self.values[i] = self.filler }
        self.count = 0
        self.zero = nil
        self.cachedSlot = -1
    }

    private mutating func grow() {
        let oldKeys = self.keys, oldValues = self.values
        let c = oldKeys.count * 2
        self.keys = Array(repeating: 0, count: c)
        self.values = Array(repeating: self.filler, count: c)
        self.mask = c - 1
        self.shift = UInt64(64 - c.trailingZeroBitCount)
        self.cachedSlot = -1
        for (k, v) in zip(oldKeys, oldValues) where k != 0 {
            var j = self.home(k)
            while self.keys[j] != 0 { j = (j &+ 1) & self.mask }
            self.keys[j] = k
            self.values[j] = v
        }
    }
}
