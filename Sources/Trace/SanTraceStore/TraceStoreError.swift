import SanTraceFormat

/// Failures of the store that are not about a damaged trace (those are ``TraceFormatError``).
public enum TraceStoreError: Error, Sendable, CustomStringConvertible {
    /// SQLite failed while writing (disk full, permissions…).
    case sqlite(SQLiteError)
    case lz4(String)
    /// The writer was used after `close()` or after a failure that closed it.
    case closed
    /// A path that cannot be used as asked (exists already, is a directory…).
    case badPath(String)

    public var description: String {
        switch self {
        case .sqlite(let e): return e.description
        case .lz4(let m): return "LZ4: \(m)"
        case .closed: return "trace writer is closed"
        case .badPath(let m): return m
        }
    }
}
