/// An open-addressing hash table (linear probing, backward-shift deletion) from a UInt64 key to a
/// value: inserts and removals without allocating once grown. Holds operations in flight (a few
/// per socket), looked up once per completion: call pairing here, the diff and the report.
@frozen
public struct OpenTable<Value> {
    @usableFromInline var keys: [UInt64]
    @usableFromInline var values: [Value]
    @usableFromInline let empty: Value
    @usableFromInline var stored = 0
    /// Entries in the table.
    public var count: Int { self.stored }

    @inlinable
    public init(empty: Value, capacity: Int = 1024) {
        var n = 16
        while n < capacity * 2 { n <<= 1 }
        self.keys = Array(repeating: 0, count: n)
        self.values = Array(repeating: empty, count: n)
        self.empty = empty
    }

    @inlinable @inline(__always)
    static func hash(_ k: UInt64) -> Int { Int(truncatingIfNeeded: (k &* 0x9E37_79B9_7F4A_7C15) >> 20) }

    @inlinable
    public mutating func insert(_ key: UInt64, _ value: Value) {
        let k = key | (1 << 63)  // never 0 (0 marks an empty slot)
        if (self.stored + 1) * 2 > self.keys.count { self.grow() }
        let mask = self.keys.count - 1
        var i = Self.hash(k) & mask
        while self.keys[i] != 0 && self.keys[i] != k { i = (i + 1) & mask }
        if self.keys[i] == 0 { self.stored += 1 }
        self.keys[i] = k
        self.values[i] = value
    }

    @inlinable
    public mutating func remove(_ key: UInt64) -> Value? {
        let k = key | (1 << 63)
        let mask = self.keys.count - 1
        var i = Self.hash(k) & mask
        while self.keys[i] != k {
            if self.keys[i] == 0 { return nil }
            i = (i + 1) & mask
        }
        let v = self.values[i]
        var hole = i
        var j = (i + 1) & mask
        while self.keys[j] != 0 {
            let home = Self.hash(self.keys[j]) & mask
            let between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j)
            if !between {
                self.keys[hole] = self.keys[j]
                self.values[hole] = self.values[j]
                hole = j
            }
            j = (j + 1) & mask
        }
        self.keys[hole] = 0
        self.values[hole] = self.empty
        self.stored -= 1
        return v
    }

    @usableFromInline
    mutating func grow() {
        let oldKeys = self.keys, oldValues = self.values
        self.keys = Array(repeating: 0, count: oldKeys.count * 2)
        self.values = Array(repeating: self.empty, count: oldKeys.count * 2)
        self.stored = 0
        for (i, k) in oldKeys.enumerated() where k != 0 { self.insert(k & ~(1 << 63), oldValues[i]) }
    }
}
