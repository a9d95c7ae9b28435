#if canImport(Glibc)
import Glibc
#endif

/// The Mann–Whitney U test (Wilcoxon rank-sum), two-sided, as benchstat uses it to decide
/// whether two sets of measurements differ: no assumption about the distributions, ties get
/// mid-ranks.
///
/// - Small samples without ties (both ≤ 50 and n₁·n₂ ≤ 2500): the exact distribution of U
///   (counted by dynamic programming over the number of arrangements).
/// - Otherwise the normal approximation with the tie correction of the variance and a
///   continuity correction: σ² = n₁n₂/12 · ((n+1) − Σ(t³−t)/(n(n−1))).
public enum MannWhitney {
    public struct Result: Sendable, Equatable {
        /// U of the first sample (the number of (a, b) pairs with a > b, ties counting ½).
        public var u: Double
        /// Two-sided p-value.
        public var p: Double
        public var exact: Bool
    }

    /// Tests two **sorted** samples. p = 1 when either is empty or every value is the same.
    public static func test(sorted a: UnsafeBufferPointer<UInt64>, _ b: UnsafeBufferPointer<UInt64>) -> Result {
        let n1 = a.count, n2 = b.count
        guard n1 > 0, n2 > 0 else { return Result(u: 0, p: 1, exact: true) }
        // Walk both in order; each group of equal values shares the mid-rank.
        var i = 0, j = 0
        var rank = 0.0
        var rankSumA = 0.0
        var tieTerm = 0.0
        var ties = false
        while i < n1 || j < n2 {
            let v = j >= n2 || (i < n1 && a[i] <= b[j]) ? a[i] : b[j]
            var ca = 0, cb = 0
            while i < n1 && a[i] == v {
                i += 1
                ca += 1
            }
            while j < n2 && b[j] == v {
                j += 1
                cb += 1
            }
            let t = Double(ca + cb)
            rankSumA += Double(ca) * (rank + (t + 1) / 2)
            rank += t
            if ca + cb > 1 {
                tieTerm += t * t * t - t
                ties = true
            }
        }
        let u = rankSumA - Double(n1) * Double(n1 + 1) / 2
        if !ties && n1 <= 50 && n2 <= 50 && n1 * n2 <= 2500 {
            return Result(u: u, p: self.exactP(u: u, n1, n2), exact: true)
        }
        let n = Double(n1 + n2)
        let mean = Double(n1) * Double(n2) / 2
        let variance = Double(n1) * Double(n2) / 12 * ((n + 1) - tieTerm / (n * (n - 1)))
        guard variance > 0 else { return Result(u: u, p: 1, exact: false) }
        let diff = abs(u - mean)
        let z = max(0, diff - 0.5) / variance.squareRoot()
        return Result(u: u, p: min(1, erfc(z / 2.0.squareRoot())), exact: false)
    }

    /// Convenience for unsorted arrays (sorts copies).
    public static func test(_ a: [UInt64], _ b: [UInt64]) -> Result {
        let sa = a.sorted(), sb = b.sorted()
        return sa.withUnsafeBufferPointer { pa in sb.withUnsafeBufferPointer { pb in self.test(sorted: pa, pb) } }
    }

    /// Exact two-sided p: P(|U − n₁n₂/2| ≥ |u − n₁n₂/2|) under the null hypothesis, from the
    /// counts of arrangements with each U (the recurrence f(n₁, n₂, u) = f(n₁−1, n₂, u−n₂) +
    /// f(n₁, n₂−1, u), computed row by row).
    static func exactP(u: Double, _ n1: Int, _ n2: Int) -> Double {
        let maxU = n1 * n2
        // counts[m][k]: arrangements of m A's and (current) n B's with U = k, for m in 0…n1.
        var counts = [[Double]](repeating: [Double](repeating: 0, count: maxU + 1), count: n1 + 1)
        for m in 0...n1 { counts[m][0] = 1 }  // n = 0: U is 0
        if n2 > 0 {
            for n in 1...n2 {
                var next = [[Double]](repeating: [Double](repeating: 0, count: maxU + 1), count: n1 + 1)
                next[0][0] = 1
                if n1 > 0 {
                    for m in 1...n1 {
                        for k in 0...(m * n) {
                            // The largest of the m + n values is an A (adds n to U) or a B.
                            next[m][k] = (k >= n ? next[m - 1][k - n] : 0) + counts[m][k]
                        }
                    }
                }
                counts = next
            }
        }
        let row = counts[n1]
        let total = row.reduce(0, +)
        let mean = Double(maxU) / 2
        let observed = abs(u - mean)
        var tail = 0.0
        for k in 0...maxU where abs(Double(k) - mean) >= observed - 1e-9 { tail += row[k] }
        return min(1, tail / total)
    }
}
