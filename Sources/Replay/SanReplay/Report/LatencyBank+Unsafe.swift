/// Log-linear latency histograms (32 sub-buckets per power of two: any percentile within 3 %),
/// one per function id, in raw memory a replay thread records into without copy-on-write or
/// exclusivity checks. Unsafe code: owns its buckets; one thread records, the report merges
/// after the threads joined.
final class LatencyBank: @unchecked Sendable {
    static let subBits = 5
    static let sub = 1 << subBits
    static let buckets = 64 * sub
    static let slots = 128

    private let tables: UnsafeMutablePointer<UnsafeMutablePointer<UInt64>?>
    private let counts: UnsafeMutablePointer<UInt64>
    private let maxs: UnsafeMutablePointer<UInt64>
    private let mins: UnsafeMutablePointer<UInt64>
    private let sums: UnsafeMutablePointer<Double>

    init() {
        self.tables = .allocate(capacity: Self.slots)
        self.tables.initialize(repeating: nil, count: Self.slots)
        self.counts = .allocate(capacity: Self.slots)
        self.counts.initialize(repeating: 0, count: Self.slots)
        self.maxs = .allocate(capacity: Self.slots)
        self.maxs.initialize(repeating: 0, count: Self.slots)
        self.mins = .allocate(capacity: Self.slots)
        self.mins.initialize(repeating: .max, count: Self.slots)
        self.sums = .allocate(capacity: Self.slots)
        self.sums.initialize(repeating: 0, count: Self.slots)
    }

    deinit {
        for i in 0..<Self.slots { self.tables[i]?.deallocate() }
        self.tables.deallocate()
        self.counts.deallocate()
        self.maxs.deallocate()
        self.mins.deallocate()
        self.sums.deallocate()
    }

    @inline(__always)
    static func bucket(_ v: UInt64) -> Int {
        if v < UInt64(sub) { return Int(v) }
        let e = 63 - v.leadingZeroBitCount
        let mantissa = Int((v >> UInt64(e - subBits)) & UInt64(sub - 1))
        return (e - subBits + 1) * sub + mantissa
    }

    static func value(_ b: Int) -> UInt64 {
        if b < sub { return UInt64(b) }
        let e = b / sub + subBits - 1
        let mantissa = UInt64(b % sub)
        let low = (UInt64(sub) + mantissa) << UInt64(e - subBits)
        return low + (UInt64(1) << UInt64(e - subBits)) / 2
    }

    @inline(__always)
    func record(_ slot: Int, _ v: UInt64) {
        guard slot >= 0 && slot < Self.slots else { return }
        var t = self.tables[slot]
        if t == nil {
            let p = UnsafeMutablePointer<UInt64>.allocate(capacity: Self.buckets)
            p.initialize(repeating: 0, count: Self.buckets)
            self.tables[slot] = p
            t = p
        }
        t.unsafelyUnwrapped[Self.bucket(v)] &+= 1
        self.counts[slot] &+= 1
        if v > self.maxs[slot] { self.maxs[slot] = v }
        if v < self.mins[slot] { self.mins[slot] = v }
        self.sums[slot] += Double(v)
    }

    func count(_ slot: Int) -> UInt64 { self.counts[slot] }

    /// Adds another bank's histograms into this one.
    func merge(_ o: LatencyBank) {
        for s in 0..<Self.slots where o.counts[s] > 0 {
            if self.tables[s] == nil {
                let p = UnsafeMutablePointer<UInt64>.allocate(capacity: Self.buckets)
                p.initialize(repeating: 0, count: Self.buckets)
                self.tables[s] = p
            }
            for b in 0..<Self.buckets { self.tables[s]![b] &+= o.tables[s]![b] }
            self.counts[s] &+= o.counts[s]
            self.maxs[s] = Swift.max(self.maxs[s], o.maxs[s])
            self.mins[s] = Swift.min(self.mins[s], o.mins[s])
            self.sums[s] += o.sums[s]
        }
    }

    /// Percentile `p` (0–100) of slot `s`; 0 when empty.
    func percentile(_ s: Int, _ p: Double) -> UInt64 {
        guard self.counts[s] > 0, let t = self.tables[s] else { return 0 }
        let rank = Swift.max(UInt64((p / 100 * Double(self.counts[s])).rounded(.up)), 1)
        var seen: UInt64 = 0
        for b in 0..<Self.buckets where t[b] > 0 {
            seen += t[b]
            if seen >= rank { return Swift.min(Swift.max(Self.value(b), self.mins[s]), self.maxs[s]) }
        }
        return self.maxs[s]
    }

    func max(_ s: Int) -> UInt64 { self.maxs[s] }
    func mean(_ s: Int) -> Double { self.counts[s] == 0 ? 0 : self.sums[s] / Double(self.counts[s]) }
}
