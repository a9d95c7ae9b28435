import Glibc
import SanTraceFormat
import SanTraceStore
import Testing

@testable import SanReport
import TraceTestSupport

@Suite struct QueryTests {
    static func all(_ e: QueryEngine, _ sql: String) throws -> [[QueryValue]] {
        var rows: [[QueryValue]] = []
        try e.run(sql, columns: { _ in }, row: { rows.append($0) })
        return rows
    }

    static func int(_ v: QueryValue) -> Int64? {
        if case .integer(let i) = v { return i }
        return nil
    }

    static func fileBytes(_ path: String) -> [UInt8] {
        guard let f = fopen(path, "rb") else { return [] }
        defer { fclose(f) }
        var out: [UInt8] = [], buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buf, 1, buf.count, f)
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return out
    }

    @Test func writesAreRefusedAndTheFileIsUntouched() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let t = dir.file("t.santrace")
        try Traces.synthetic(t, iterations: 200)
        let before = Self.fileBytes(t)
        let e = try QueryEngine(path: t)
        for sql in ["DELETE FROM meta", "INSERT INTO argv VALUES (99, 'x')", "DROP TABLE segments", "CREATE TABLE x (a)",
                    "UPDATE meta SET value = 'x'", "CREATE TEMP TABLE y (a)", "PRAGMA user_version = 7",
                    "ATTACH DATABASE '\(dir.file("other.db"))' AS o"] {
            #expect(throws: QueryError.self, "\(sql)") { try Self.all(e, sql) }
        }
        #expect(throws: QueryError.self) { try Self.all(e, "select 1; select 2") }
        #expect(throws: QueryError.self) { try Self.all(e, "selec 1") }
        #expect(try Self.all(e, "select 1; -- a comment\n ;").count == 1)
        #expect(Self.fileBytes(t) == before)
        #expect(access(dir.file("other.db"), F_OK) != 0)
    }

    /// The temporary index holds exactly the rows `sanreplay index` writes.
    @Test func temporaryIndexEqualsThePersistentOne() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let t = dir.file("t.santrace"), u = dir.file("u.santrace")
        try Traces.synthetic(t, iterations: 300)
        // A copy, not a second generation: the writer cuts segments by age too (wall clock).
        let bytes = Self.fileBytes(t)
        let f = try #require(fopen(u, "wb"))
        _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
        fclose(f)
        try EventIndexer.build(path: u)
        let temp = try QueryEngine(path: t)
        #expect(!temp.hasEvents)
        let sql = "select * from events order by seq"
        let a = try Self.all(temp, sql)
        #expect(temp.temporaryIndex)
        let b = try Self.all(QueryEngine(path: u), sql)
        #expect(a.count == Int(try TraceReader(path: t).eventCount))
        #expect(a.count == b.count)
        let firstDifference = a.indices.first { $0 < b.count && a[$0] != b[$0] }
        #expect(firstDifference == nil, "row \(firstDifference ?? -1): \(firstDifference.map { "\(a[$0]) vs \(b[$0])" } ?? "")")
        // And the views over it agree too.
        let v = "select * from function_latency order by function"
        #expect(try Self.all(temp, v) == Self.all(QueryEngine(path: u), v))
    }

    @Test func largeTracesAskForTheIndex() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let t = dir.file("t.santrace")
        try Traces.synthetic(t, iterations: 200)
        let e = try QueryEngine(path: t)
        e.onTheFlyLimit = 10
        do {
            _ = try Self.all(e, "select count(*) from calls")
            Issue.record("expected needsEventIndex")
        } catch QueryError.needsEventIndex(let path, let events) {
            #expect(path == t && events > 10)
        }
        // Views over the index tables need no event index.
        #expect(try Self.all(e, "select count(*) from function_totals").count == 1)
        #expect(!e.hasEvents)
    }

    @Test func viewsAnswerTheCommonQuestions() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let t = dir.file("t.santrace")
        try Traces.synthetic(t, iterations: 400)
        let events = try TraceReader(path: t).events()
        let e = try QueryEngine(path: t)
        let leaves = events.filter { $0.kind == .leave }.count
        #expect(Self.int(try Self.all(e, "select count(*) from calls")[0][0]) == Int64(leaves))
        let completions = events.filter { $0.kind == .completion }.count
        #expect(Self.int(try Self.all(e, "select count(*) from completions")[0][0]) == Int64(completions))
        // RDMA writes: one call each, all pending, each completion 65536 bytes.
        let w = try Self.all(e, "select calls, completions, bytes from function_latency where function = 'WSPRdmaWrite'")[0]
        let writes = events.filter { $0.kind == .enter && $0.function == .WSPRdmaWrite }.count
        #expect(Self.int(w[0]) == Int64(writes))
        #expect(Self.int(w[1]) == Int64(writes - 15))  // the last 15 of the window never complete
        #expect(Self.int(w[2]) == Int64(writes - 15) * 65536)
        let leaked = try Self.all(e, "select count(*) from registration_lifetimes where leaked")
        let stats = try TraceStats.compute(TraceReader(path: t))
        #expect(Self.int(leaked[0][0]) == Int64(stats.neverReleased.count))
        #expect(Self.int(try Self.all(e, "select count(*) from socket_lifetimes where never_closed")[0][0]) == 3)
    }
}

@Suite struct ResultFormatTests {
    @Test func csvQuotesAndJSONParses() {
        var lines: [String] = []
        let w = RowWriter(format: .csv) { lines.append($0) }
        w.columns(["a", "b,c"])
        w.row([.text("x\"y"), .integer(3)])
        w.row([.null, .real(1.5)])
        w.finish()
        #expect(lines == ["a,\"b,c\"", "\"x\"\"y\",3", ",1.5"])
        var j: [String] = []
        let jw = RowWriter(format: .json) { j.append($0) }
        jw.columns(["a", "b"])
        jw.row([.text("q\""), .null])
        jw.row([.blob([1, 255]), .integer(-2)])
        jw.finish()
        #expect(j.joined() == "[{\"a\":\"q\\\"\",\"b\":null},{\"a\":\"01ff\",\"b\":-2}]")
    }
}
