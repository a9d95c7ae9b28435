import CSQLite

/// What `sanreplay query` needs beyond the store's own use of SQLite: statements whose SQL comes
/// from the user, so their shape (columns, names, types) is only known at run time, and a check
/// that they cannot write. Unsafe code: reads the statement handle.
extension SQLiteStatement {
    /// True when the statement makes no direct change to the database: "sqlite3_stmt_readonly(X)
    /// returns true if and only if the prepared statement X makes no direct changes to the content
    /// of the database file" (sqlite.org c3ref/stmt_readonly.html).
    public var isReadOnly: Bool { sqlite3_stmt_readonly(self.handle) != 0 }

    /// Result columns of the statement (0 for statements that return no data).
    public var columnCount: Int32 { sqlite3_column_count(self.handle) }

    /// The name of result column `col` (its `AS` name, else SQLite's choice).
    public func columnName(_ col: Int32) -> String {
        sqlite3_column_name(self.handle, col).map { String(cString: $0) } ?? "column\(col + 1)"
    }
}

/// A column's storage class in the current row (sqlite.org c3ref/c_blob.html).
public enum SQLiteColumnType: Int32, Sendable {
    case integer = 1
    case float = 2
    case text = 3
    case blob = 4
    case null = 5
}

extension SQLiteStatement {
    /// The storage class of column `col` in the current row.
    public func storageClass(_ col: Int32) -> SQLiteColumnType {
        SQLiteColumnType(rawValue: sqlite3_column_type(self.handle, col)) ?? .null
    }
}

extension SQLiteConnection {
    /// The length in bytes of the first statement of `sql` (what `sqlite3_prepare_v2` compiles;
    /// the rest is its "tail"): a caller that must run exactly one statement checks the tail.
    public func firstStatementLength(_ sql: String) throws(SQLiteError) -> Int {
        var stmt: OpaquePointer?
        var offset = 0
        let rc: Int32 = sql.withCString { base in
            var tail: UnsafePointer<CChar>?
            let rc = sqlite3_prepare_v2(self.handle, base, -1, &stmt, &tail)
            if let tail { offset = base.distance(to: tail) }
            return rc
        }
        if let stmt { sqlite3_finalize(stmt) }
        guard rc == SQLITE_OK else { throw self.error(rc, sql) }
        return offset
    }
}
