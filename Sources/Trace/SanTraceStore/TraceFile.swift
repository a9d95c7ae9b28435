import SanTraceFormat

#if canImport(Glibc)
import Glibc
#endif

/// Checks, before SQLite sees it, that a path is a regular, non-empty SQLite file whose
/// application id is the trace format's: so a directory, an empty file, a text file or a foreign
/// database each get their own clear error.
enum TraceFile {
    static func check(_ path: String) throws(TraceFormatError) {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw TraceFormatError(.notATrace, "cannot open: \(String(cString: strerror(errno)))", file: path)
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            throw TraceFormatError(.notATrace, "is a directory, not a trace (a trace set is read by tools that take DIR)",
                                   file: path)
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw TraceFormatError(.notATrace, "not a regular file", file: path) }
        guard st.st_size > 0 else { throw TraceFormatError(.notATrace, "empty file", file: path) }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw TraceFormatError(.notATrace, "cannot open: \(String(cString: strerror(errno)))", file: path)
        }
        defer { close(fd) }
        var header = [UInt8](repeating: 0, count: 100)
        let n = header.withUnsafeMutableBytes { read(fd, $0.baseAddress, 100) }
        let sqliteMagic = Array("SQLite format 3".utf8) + [0]
        guard n >= 16, Array(header[0..<16]) == sqliteMagic else {
            throw TraceFormatError(.notATrace, "not a trace: wrong magic (not an SQLite database)", file: path, offset: 0)
        }
        guard n == 100 else { throw TraceFormatError(.databaseDamaged, "SQLite header cut short (\(n) bytes)", file: path) }
        let appID = Int32(bitPattern: UInt32(header[68]) << 24 | UInt32(header[69]) << 16 | UInt32(header[70]) << 8
            | UInt32(header[71]))
        // A trace whose writer died before its first checkpoint keeps even its header page in the
        // `-wal` file: then SQLite itself answers (checkApplicationID after opening).
        guard appID == TraceFormat.applicationID || access(path + "-wal", F_OK) == 0 else {
            throw TraceFormatError(.notATrace, "an SQLite database but not a trace (application_id 0x\(String(UInt32(bitPattern: appID), radix: 16)), expected 0x\(String(TraceFormat.applicationID, radix: 16)) \"SANT\")",
                                   file: path, offset: 68)
        }
    }

    /// The application id as SQLite sees it (WAL included).
    static func checkApplicationID(_ db: SQLiteConnection, _ path: String) throws(TraceFormatError) {
        let id: Int64?
        do {
            id = try db.scalarInt("PRAGMA application_id")
        } catch {
            throw map(error, path)
        }
        guard id == Int64(TraceFormat.applicationID) else {
            throw TraceFormatError(.notATrace, "an SQLite database but not a trace (application_id 0x\(String(UInt32(truncatingIfNeeded: id ?? 0), radix: 16)), expected 0x\(String(TraceFormat.applicationID, radix: 16)) \"SANT\")",
                                   file: path, offset: 68)
        }
    }

    /// Maps an SQLite failure while reading a trace to a format error.
    static func map(_ e: SQLiteError, _ path: String, segment: Int64? = nil) -> TraceFormatError {
        if e.isDamage {
            return TraceFormatError(.databaseDamaged,
                                    "database damaged: \(e.message) (sanreplay verify shows what is intact; --repair recovers it)",
                                    file: path, segment: segment)
        }
        return TraceFormatError(.missingData, "cannot read: \(e.message) (SQLite \(e.code))", file: path, segment: segment)
    }
}
