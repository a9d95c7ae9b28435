import Testing

@testable import SanDiff

/// The rank test against SciPy 1.17 (`scipy.stats.mannwhitneyu`, two-sided): an independent
/// implementation, values computed once and written here.
@Suite struct MannWhitneyTests {
    @Test func exactSmallSamples() {
        let r = MannWhitney.test([1, 2, 3], [4, 5, 6])
        #expect(r.exact)
        #expect(r.u == 0)
        #expect(abs(r.p - 0.1) < 1e-12)  // scipy: 0.1
        let s = MannWhitney.test([1, 3, 5, 7, 9, 11], [2, 4, 6, 8, 10, 12, 14, 16])
        #expect(s.u == 15)
        #expect(abs(s.p - 0.2823842823842824) < 1e-12)
    }

    @Test func tiesUseTheCorrectedNormalApproximation() {
        let r = MannWhitney.test([1, 2, 2, 3, 3, 3, 4, 4, 5, 9, 9], [2, 3, 4, 4, 5, 5, 6, 7, 7, 8, 9, 10, 10])
        #expect(!r.exact)
        #expect(r.u == 37.5)
        #expect(abs(r.p - 0.05053812694381677) < 1e-9)  // scipy asymptotic, continuity correction
    }

    @Test func symmetricAndDegenerate() {
        let a: [UInt64] = [5, 8, 13, 21, 34, 55, 89, 144, 233]
        let b: [UInt64] = [6, 9, 12, 20, 40, 60, 90, 150, 250, 400]
        #expect(abs(MannWhitney.test(a, b).p - MannWhitney.test(b, a).p) < 1e-12)
        #expect(MannWhitney.test([7, 7, 7], [7, 7]).p == 1)
        #expect(MannWhitney.test([], [1, 2]).p == 1)
    }

    @Test func largeShiftedSamplesAreSignificantAndEqualOnesAreNot() {
        var rng = LCG(seed: 3)
        let a = (0..<20_000).map { _ in 1000 + rng.next() % 200 }
        let same = (0..<20_000).map { _ in 1000 + rng.next() % 200 }
        let slower = (0..<20_000).map { _ in 1060 + rng.next() % 200 }
        #expect(MannWhitney.test(a, same).p > 0.001)
        #expect(MannWhitney.test(a, slower).p < 1e-10)
    }
}

struct LCG {
    var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state = self.state &* 6364136223846793005 &+ 1442695040888963407
        return self.state >> 33
    }
}

@Suite struct AlignmentTests {
    /// Longest common subsequence length by dynamic programming (the reference).
    static func lcs(_ a: [UInt64], _ b: [UInt64]) -> Int {
        var row = [Int](repeating: 0, count: b.count + 1)
        for x in a {
            var diag = 0
            for j in 1...max(1, b.count) where j <= b.count {
                let up = row[j]
                row[j] = x == b[j - 1] ? diag + 1 : max(row[j], row[j - 1])
                diag = up
            }
        }
        return row[b.count]
    }

    static func check(_ a: [UInt64], _ b: [UInt64]) {
        let al = a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in Alignment.align(pa, pb) } }
        var matched = 0
        var last = -1
        for i in 0..<a.count {
            let j = al.b(for: i)
            guard j >= 0 else { continue }
            #expect(a[i] == b[j])
            #expect(j > last)
            last = j
            matched += 1
        }
        #expect(matched == lcs(a, b))
        #expect(al.onlyA.count == a.count - matched)
        #expect(al.onlyB.count == b.count - matched)
    }

    @Test func identicalSequencesAreIdentity() {
        let a: [UInt64] = [1, 2, 3, 4]
        let al = a.withUnsafeBufferPointer { p in Alignment.align(p, p) }
        #expect(al.isIdentity)
    }

    @Test func minimalAlignmentOnRandomEdits() {
        var rng = LCG(seed: 11)
        for _ in 0..<300 {
            let n = Int(rng.next() % 60)
            let a = (0..<n).map { _ in rng.next() % 5 }
            var b = a
            for _ in 0..<Int(rng.next() % 8) {
                switch rng.next() % 3 {
                case 0 where !b.isEmpty: b.remove(at: Int(rng.next() % UInt64(b.count)))
                case 1: b.insert(rng.next() % 5, at: Int(rng.next() % UInt64(b.count + 1)))
                default: if !b.isEmpty { b[Int(rng.next() % UInt64(b.count))] = rng.next() % 5 }
                }
            }
            Self.check(a, b)
        }
        Self.check([], [1, 2])
        Self.check([1, 2], [])
    }

    @Test func givesUpPastTheEditBudgetButStaysConsistent() {
        let a = (0..<500).map { UInt64($0) }
        let b = (0..<500).map { UInt64($0 + 1000) }
        let al = a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in Alignment.align(pa, pb, maxEdits: 10) } }
        #expect(al.gaveUp)
        #expect(al.onlyA.count == 500)
        #expect(al.onlyB.count == 500)
    }
}

@Suite struct SizeClassTests {
    @Test func bucketsAndLabels() {
        #expect(SizeClass.of(0) == 0)
        #expect(SizeClass.of(1) == 1)
        #expect(SizeClass.of(65535) == 16)
        #expect(SizeClass.of(65536) == 17)
        #expect(SizeClass.label(17) == "64K")
        #expect(SizeClass.label(7) == "64")
        #expect(SizeClass.label(0) == "-")
        #expect(SizeClass.range(17) == (65536, 131072))
    }
}

@Suite struct RadixSortTests {
    @Test func sortsLikeTheStandardLibrary() {
        var rng = LCG(seed: 5)
        for n in [0, 1, 7, 300, 5000, 100_000] {
            for range in [UInt64(10), 1 << 20, 1 << 40, UInt64.max] {
                var a = (0..<n).map { _ in (rng.next() << 31 ^ rng.next()) % range }
                let expected = a.sorted()
                RadixSort.sort(&a)
                #expect(a == expected, "n \(n) range \(range)")
            }
        }
    }
}
