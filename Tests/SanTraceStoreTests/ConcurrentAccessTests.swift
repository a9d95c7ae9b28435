import Glibc
import SanTraceFormat
import Synchronization

@testable import SanTraceStore
import TraceTestSupport

import Testing

/// Traces are opened by several processes at once: the endpoints of a split replay, the `record`
/// summaries of a client and a server, someone's `sqlite3`. The writer's close waits for them
/// (readers of a trace left in WAL mode: test_74, which needs processes).
@Suite struct ConcurrentAccessTests {
    /// A reader in the middle of a read transaction while the writer closes: the closing
    /// checkpoint waits for it, and the trace still ends as a single rollback-journal file.
    @Test func closeWaitsForAReaderAndLeavesNoWAL() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = dir.file("t.santrace")
        let w = try TraceWriter(path: path, metadata: Fixtures.metadata())
        var g = SyntheticWorkload(.writeBandwidth, seed: 1)
        _ = try g.generate(into: w, events: 5_000)
        try w.flush()
        // Another process's reader, open on the file (in WAL mode it holds a shared lock as long
        // as it is open) and in a read transaction, for 300 ms.
        let reader = Box<SQLiteConnection?>(try SQLiteConnection(path: path, readOnly: true))
        try reader.value?.execute("BEGIN")
        #expect(try reader.value?.scalarInt("SELECT count(*) FROM segments") ?? 0 > 0)
        let writer = Box(w)
        let released = Atomic<Bool>(false)
        let closed = Atomic<Int>(0)  // 1 closed after the reader let go, 2 failed or too early
        onThreads(2) { i in
            if i == 0 {
                usleep(300_000)
                released.store(true, ordering: .sequentiallyConsistent)
                try? reader.value?.execute("COMMIT")
                reader.value = nil
            } else {
                let ok = (try? writer.value.close()) != nil
                closed.store(ok && released.load(ordering: .sequentiallyConsistent) ? 1 : 2, ordering: .sequentiallyConsistent)
            }
        }
        #expect(closed.load(ordering: .sequentiallyConsistent) == 1, "close failed or did not wait for the reader")
        let check = try SQLiteConnection(path: path, readOnly: true)
        let mode = try check.prepare("PRAGMA journal_mode")
        #expect(try mode.step() && mode.text(0) == "delete")
        #expect(access(path + "-wal", F_OK) != 0)
    }
}
