import Glibc
import SanTraceFormat
import Testing

@testable import SanTraceStore
import TraceTestSupport

@Suite struct DamageTests {
    /// A trace cut short: verify names the intact segments; --repair rebuilds a trace that reads
    /// cleanly and records what was lost.
    @Test func truncatedTraceIsReportedAndRepaired() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let good = dir.file("good.santrace")
        let n = try Fixtures.trace(good, .writeBandwidth, events: 200_000, segmentBytes: 64 << 10)
        let bytes = readFile(good)
        let cut = dir.file("cut.santrace")
        writeFile(cut, Array(bytes.prefix(bytes.count * 6 / 10)))
        let report = try TraceVerifier.verify(path: cut)
        #expect(!report.isIntact)
        #expect(!report.intactSegments.isEmpty)
        #expect(report.intactSegments.first?.id == 0)
        #expect(report.lines.first?.hasPrefix("segments 0–") == true)
        // Readers fail with a format error, not a crash.
        #expect(throws: TraceFormatError.self) {
            let r = try TraceReader(path: cut)
            _ = try r.events()
        }
        let result = try TraceRepair.repair(path: cut, report: report)
        #expect(result.segmentsKept == report.intactSegments.count)
        let after = try TraceVerifier.verify(path: cut)
        #expect(after.isIntact)
        #expect(after.knownLost.last?.upperBound == UInt64(n - 1))
        let r = try TraceReader(path: cut)
        #expect(try r.events().count == Int(result.eventsKept))
        #expect(access(cut + ".damaged", F_OK) == 0)
    }

    /// A flipped bit inside one segment blob: that segment is reported, the others are intact,
    /// and a repair drops exactly that one.
    @Test func flippedBitInABlobIsFoundAndIsolated() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = dir.file("b.santrace")
        try Fixtures.trace(path, .pingPong, events: 50_000, segmentBytes: 16 << 10)
        let db = try SQLiteConnection(path: path, readOnly: false)
        let segs = try db.scalarInt("SELECT count(*) FROM segments")!
        let target = segs / 2
        var blob = try { () throws -> [UInt8] in
            let s = try db.prepare("SELECT blob FROM segments WHERE id = ?1")
            s.bind(1, target)
            _ = try s.step()
            return s.blob(0)
        }()
        blob[blob.count / 2] ^= 0x10
        let u = try db.prepare("UPDATE segments SET blob = ?1 WHERE id = ?2")
        u.bind(1, blob: blob)
        u.bind(2, target)
        try u.run()
        let report = try TraceVerifier.verify(path: path)
        #expect(report.problems.count == 1)
        #expect(report.problems.first?.segment == target)
        #expect(report.problems.first?.kind == .checksum)
        #expect(report.intactSegments.count == Int(segs) - 1)
        _ = try TraceRepair.repair(path: path, report: report)
        let after = try TraceVerifier.verify(path: path)
        #expect(after.isIntact && after.knownLost.count == 1)
    }

    /// Index rows that disagree with the segments are found, and repair rebuilds them.
    @Test func tamperedIndexIsFoundAndRebuilt() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = dir.file("i.santrace")
        try Fixtures.trace(path, .mixed, events: 20_000)
        let db = try SQLiteConnection(path: path, readOnly: false)
        try db.execute("UPDATE segment_functions SET events = events + 1 WHERE segment = 1 AND function = 37")
        try db.execute("DELETE FROM segment_sockets WHERE segment = 2")
        let report = try TraceVerifier.verify(path: path)
        #expect(report.problems.isEmpty && report.indexProblems.count == 2)
        _ = try TraceRepair.repair(path: path, report: report)
        #expect(try TraceVerifier.verify(path: path).isIntact)
    }

    /// Each kind of bad input gets its own clear TraceFormatError.
    @Test func badInputsGetClearErrors() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        func kind(_ path: String) -> TraceFormatError.Kind? {
            do {
                _ = try TraceReader(path: path).events()
                return nil
            } catch let e as TraceFormatError {
                return e.kind
            } catch {
                return nil
            }
        }
        writeFile(dir.file("empty.santrace"), [])
        #expect(kind(dir.file("empty.santrace")) == .notATrace)
        writeFile(dir.file("text.santrace"), Array("hello, this is not a trace at all\n".utf8))
        #expect(kind(dir.file("text.santrace")) == .notATrace)
        #expect(kind(dir.path) == .notATrace)
        #expect(kind(dir.file("missing.santrace")) == .notATrace)
        let foreign = try SQLiteConnection(path: dir.file("foreign.santrace"), readOnly: false)
        try foreign.execute("CREATE TABLE t (x); INSERT INTO t VALUES (1)")
        #expect(kind(dir.file("foreign.santrace")) == .notATrace)
        let newer = dir.file("newer.santrace")
        try Fixtures.trace(newer, events: 100)
        let db = try SQLiteConnection(path: newer, readOnly: false)
        try db.execute("UPDATE meta SET value = '2.0' WHERE key = 'format_version'")
        #expect(kind(newer) == .unsupportedVersion)
        try db.execute("UPDATE meta SET value = '1.7' WHERE key = 'format_version'")
        #expect(kind(newer) == nil)  // a newer minor is read
        // A damaged clock calibration is refused, not divided by (the whole-file fuzz found a
        // trap in stats with tsc_hz = 1e-300).
        for hz in ["1e-300", "nan", "inf", "-3e9", "0", "x"] {
            try db.execute("UPDATE meta SET value = '\(hz)' WHERE key = 'tsc_hz'")
            #expect(kind(newer) == .missingData, "tsc_hz = \(hz)")
        }
        try db.execute("UPDATE meta SET value = 3e9 WHERE key = 'tsc_hz'")
        try db.execute("UPDATE meta SET value = 9223372036854775807 WHERE key = 'first_tsc'")
        let r = try TraceReader(path: newer)
        _ = try TraceStats.compute(r)  // extreme times saturate instead of trapping
        var f = EventFormatter(reader: r)
        try r.forEach { _ = f.line($0) }
    }
}
