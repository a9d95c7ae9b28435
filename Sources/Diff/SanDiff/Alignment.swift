/// Aligns two sequences of keys: which element of A matches which element of B, and which are
/// only in one of them. The common prefix and suffix are matched first (in a faithful replay
/// that is everything), then Myers' O((N+M)·D) difference algorithm ("An O(ND) Difference
/// Algorithm and Its Variations", 1986) aligns the rest with the fewest insertions and deletions,
/// up to `maxEdits` of them. Past that (or past a work budget) the rest is paired position by
/// position and the alignment is marked as given up.
struct Alignment {
    /// For each A index, the matched B index or -1. Nil when A and B are identical (every i ↔ i).
    var matchA: [Int32]?
    /// B indices with no A counterpart, ascending.
    var onlyB: [Int32] = []
    /// A indices with no B counterpart, ascending.
    var onlyA: [Int32] = []
    var gaveUp = false

    var isIdentity: Bool { self.matchA == nil }

    /// The B index A's `i` is matched with, -1 when none.
    @inline(__always)
    func b(for i: Int) -> Int { self.matchA.map { Int($0[i]) } ?? i }

    static let defaultMaxEdits = 4096
    /// Snake steps allowed in the middle part before giving up (bounds the worst case).
    static let workBudget = 400_000_000

    static func align(_ a: UnsafeBufferPointer<UInt64>, _ b: UnsafeBufferPointer<UInt64>,
                      maxEdits: Int = defaultMaxEdits) -> Alignment {
        let n = a.count, m = b.count
        var prefix = 0
        while prefix < n && prefix < m && a[prefix] == b[prefix] { prefix += 1 }
        if prefix == n && prefix == m { return Alignment(matchA: nil) }
        var suffix = 0
        while suffix < n - prefix && suffix < m - prefix && a[n - 1 - suffix] == b[m - 1 - suffix] { suffix += 1 }
        var out = Alignment(matchA: [Int32](repeating: -1, count: n))
        for i in 0..<prefix { out.matchA![i] = Int32(i) }
        for s in 0..<suffix { out.matchA![n - 1 - s] = Int32(m - 1 - s) }
        let midA = UnsafeBufferPointer(rebasing: a[prefix..<(n - suffix)])
        let midB = UnsafeBufferPointer(rebasing: b[prefix..<(m - suffix)])
        if !myers(midA, midB, offsetA: prefix, offsetB: prefix, maxEdits: maxEdits, into: &out) {
            out.gaveUp = true
            for i in 0..<midA.count {
                let j = i < midB.count && midA[i] == midB[i] ? i : -1
                out.matchA![prefix + i] = j < 0 ? -1 : Int32(prefix + j)
            }
        }
        // Collect the unmatched sides.
        var usedB = [Bool](repeating: false, count: m)
        for i in 0..<n {
            let j = out.matchA![i]
            if j >= 0 { usedB[Int(j)] = true } else { out.onlyA.append(Int32(i)) }
        }
        for j in 0..<m where !usedB[j] { out.onlyB.append(Int32(j)) }
        return out
    }

    /// Myers' greedy forward algorithm with the furthest-reaching x of every diagonal saved per
    /// round for the backtrack. Writes the matches into `out.matchA`; false when it gave up.
    private static func myers(_ a: UnsafeBufferPointer<UInt64>, _ b: UnsafeBufferPointer<UInt64>, offsetA: Int,
                              offsetB: Int, maxEdits: Int, into out: inout Alignment) -> Bool {
        let n = a.count, m = b.count
        if n == 0 || m == 0 { return true }  // only insertions or only deletions
        let maxD = min(n + m, maxEdits)
        let off = maxD + 1
        var v = [Int](repeating: 0, count: 2 * maxD + 3)
        // Round d's V over diagonals -d, -d+2 … d (d + 1 values), stored from slot(d, -d).
        var trace: [Int32] = []
        var work = 0
        var found = -1
        rounds: for d in 0...maxD {
            var k = -d
            while k <= d {
                let start = (k == -d || (k != d && v[off + k - 1] < v[off + k + 1])) ? v[off + k + 1] : v[off + k - 1] + 1
                var x = start
                var y = x - k
                while x < n && y < m && a[x] == b[y] {
                    x += 1
                    y += 1
                }
                work += 1 + x - start
                v[off + k] = x
                if x >= n && y >= m {
                    found = d
                }
                k += 2
            }
            for k in stride(from: -d, through: d, by: 2) { trace.append(Int32(v[off + k])) }
            if found >= 0 { break rounds }
            if work > Self.workBudget { return false }
        }
        guard found >= 0 else { return false }
        // Backtrack from (n, m).
        var x = n, y = m
        var d = found
        while d > 0 {
            let k = x - y
            func prev(_ kk: Int) -> Int { Int(trace[Self.slot(d - 1, kk)]) }
            let down = k == -d || (k != d && prev(k - 1) < prev(k + 1))
            let pk = down ? k + 1 : k - 1
            let px = prev(pk)
            let py = px - pk
            while x > px && y > py {
                x -= 1
                y -= 1
                out.matchA![offsetA + x] = Int32(offsetB + y)
            }
            x = px
            y = py
            d -= 1
        }
        while x > 0 && y > 0 {
            x -= 1
            y -= 1
            out.matchA![offsetA + x] = Int32(offsetB + y)
        }
        return true
    }

    /// Where round `d`'s value for diagonal `k` sits in the trace: rounds 0…d−1 take d(d+1)/2
    /// slots, and the diagonals of round d are −d, −d+2 … d.
    @inline(__always)
    private static func slot(_ d: Int, _ k: Int) -> Int { d * (d + 1) / 2 + (k + d) / 2 }
}
