import Glibc
import SanTraceFormat
import SanTraceStore
import Testing

@testable import SanDiff
import TraceTestSupport

/// `diff` over folders of runs: one value per run and cell, tested across runs.
@Suite struct RepeatedRunsTests {
    /// Writes runs 1…n of a write_bw program into `dir/name/i/`, RDMA writes slowed per run by
    /// `factor(i)` (machine noise when it alternates, a regression when it is always larger).
    func runs(_ dir: TempDir, _ name: String, _ n: Int, seed: UInt64, _ factor: (Int) -> Double) throws -> String {
        for i in 1...n {
            let folder = dir.file("\(name)/\(i)")
            mkdir(dir.file(name), 0o755)
            mkdir(folder, 0o755)
            try Traces.synthetic(folder + "/c.santrace", .writeBandwidth, iterations: 1500,
                                 variation: SyntheticVariation(timingSeed: seed + UInt64(i),
                                                               slowdown: [.WSPRdmaWrite: factor(i)]))
        }
        return dir.file(name)
    }

    /// Every other run 30 % slower on both sides: a single pair of runs looks like a regression;
    /// five runs against five are equal.
    @Test func runNoiseIsNotARegression() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let a = try self.runs(dir, "A", 5, seed: 0) { $0 % 2 == 0 ? 1.3 : 1.0 }
        let b = try self.runs(dir, "B", 5, seed: 10) { $0 % 2 == 1 ? 1.3 : 1.0 }
        #expect(try TraceDiff.run(a: a + "/1", b: b + "/1").verdict == .regression)
        let r = try TraceDiff.run(a: a, b: b)
        #expect(r.runsA.count == 5 && r.runsB.count == 5)
        #expect(r.performance.runsA == 5 && r.performance.runsB == 5)
        #expect(r.semantic.isEqual)
        #expect(r.verdict == .equal, "\(r.performance.regressions.map { "\($0.function) \($0.p50Change ?? 0)" })")
        let w = try #require(r.performance.rows.first { $0.function == .WSPRdmaWrite })
        #expect(w.runMediansA.count == 5 && w.runMediansB.count == 5)
        // Counts pool the runs' calls; p50 is the middle run's median.
        let single = try (1...5).map { i in
            try #require(TraceDiff.run(a: a + "/\(i)", b: a + "/\(i)").performance.rows.first { $0.function == .WSPRdmaWrite })
        }
        #expect(w.a.count == single.reduce(0) { $0 + $1.a.count })
        #expect(w.runMediansA == single.map(\.a.p50).sorted())
        #expect(w.a.p50 == w.runMediansA[2])
    }

    /// The same noise with RDMA writes 1.5 times slower in every run of B: a regression, at the
    /// smallest p five runs against five can give.
    @Test func aRealSlowdownIsFoundAcrossRuns() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let a = try self.runs(dir, "A", 5, seed: 0) { $0 % 2 == 0 ? 1.3 : 1.0 }
        let b = try self.runs(dir, "B", 5, seed: 10) { $0 % 2 == 1 ? 1.95 : 1.5 }
        let r = try TraceDiff.run(a: a, b: b)
        #expect(r.verdict == .regression)
        let regs = r.performance.regressions
        #expect(regs.map(\.function) == [.WSPRdmaWrite])
        let p = try #require(regs.first?.test?.p)
        #expect(abs(p - PerformanceReport.smallestP(runs: 5, 5)) < 1e-9)
    }

    /// A folder of runs against a single trace set: the one run is compared with the five.
    @Test func runsAgainstOneRun() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let a = try self.runs(dir, "A", 5, seed: 0) { _ in 1.0 }
        let b = try self.runs(dir, "B", 1, seed: 10) { _ in 1.0 }
        let r = try TraceDiff.run(a: a, b: b + "/1")
        #expect(r.runsA.count == 5 && r.runsB == [b + "/1"])
        #expect(r.performance.rows.allSatisfy { $0.runMediansB.count <= 1 })
        #expect(r.verdict == .equal)
    }

    @Test func smallestPossibleP() {
        #expect(abs(PerformanceReport.smallestP(runs: 3, 3) - 0.1) < 1e-12)
        #expect(abs(PerformanceReport.smallestP(runs: 4, 4) - 2.0 / 70) < 1e-12)
        #expect(abs(PerformanceReport.smallestP(runs: 5, 5) - 2.0 / 252) < 1e-12)
        #expect(PerformanceReport.smallestP(runs: 1, 1) == 1)
        #expect(PerformanceReport.smallestP(runs: 0, 3) == 1)
        // The exact test reaches it when the runs do not overlap at all.
        #expect(abs(MannWhitney.test([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]).p - 2.0 / 252) < 1e-9)
    }

    /// What counts as a folder of runs, and what is refused.
    @Test func runFolders() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let a = try self.runs(dir, "A", 2, seed: 0) { _ in 1.0 }
        mkdir(dir.file("A/notes"), 0o755)  // no traces: not a run
        #expect(try TraceSet.runs(a) == [a + "/1", a + "/2"])
        #expect(try TraceSet.runs(a + "/1") == [a + "/1"])
        #expect(try TraceSet.runs(a + "/1/c.santrace") == [a + "/1/c.santrace"])
        mkdir(dir.file("empty"), 0o755)
        #expect(throws: TraceFormatError.self) { try TraceSet.runs(dir.file("empty")) }
        // A path that is not a folder is one run; reading it is what fails.
        #expect(try TraceSet.runs(dir.file("missing")) == [dir.file("missing")])
        #expect(throws: (any Error).self) { try TraceDiff.run(a: dir.file("missing"), b: a) }
    }
}
