import JSONText
import SanDiff
import SanTraceStore

/// How query results and canned reports are printed.
public enum ResultFormat: String, CaseIterable, Sendable {
    /// Aligned columns with a header (widths from the first 1000 rows).
    case table
    /// RFC 4180: a header line, fields quoted when they hold a comma, quote or line break.
    case csv
    /// One JSON array of objects keyed by column name.
    case json
}

/// A finished result: columns and rows, for canned reports (queries stream through ``RowWriter``).
public struct ResultTable: Sendable {
    public var title: String
    public var columns: [String]
    public var rows: [[QueryValue]] = []
    /// Lines printed after the table in `table` format (and as `notes` in JSON).
    public var notes: [String] = []

    public init(title: String, columns: [String]) {
        self.title = title
        self.columns = columns
    }

    /// Writes the whole table: `table` and `csv` through a ``RowWriter``; `json` as one object
    /// {"title", "columns", "rows" (objects keyed by column), "notes"}.
    public func write(_ format: ResultFormat, _ line: @escaping (String) -> Void) {
        if format == .json {
            var o = JSONObject()
            o.add("title", self.title)
            o.add("columns", raw: jsonArray(self.columns.map(jsonString)))
            o.add("rows", raw: jsonArray(self.rows.map { r in
                var j = JSONObject()
                for (i, v) in r.enumerated() where i < self.columns.count { j.add(self.columns[i], raw: RowWriter.json(v)) }
                return j.text
            }))
            o.add("notes", raw: jsonArray(self.notes.map(jsonString)))
            line(o.text)
            return
        }
        let w = RowWriter(format: format, line: line)
        if format == .table && !self.title.isEmpty { line(self.title) }
        w.columns(self.columns)
        for r in self.rows { w.row(r) }
        w.finish(notes: self.notes)
    }
}

/// Streams rows in one of the formats. `line` receives whole lines (no newline).
public final class RowWriter {
    let format: ResultFormat
    let line: (String) -> Void
    private var names: [String] = []
    private var pending: [[String]] = []
    private var widths: [Int] = []
    /// Columns whose values are all numbers (or NULL) so far: right-aligned in tables.
    private var numeric: [Bool] = []
    private var flushed = false
    private var rowsWritten = 0
    private var firstJSON = true

    public init(format: ResultFormat, line: @escaping (String) -> Void) {
        self.format = format
        self.line = line
    }

    public func columns(_ names: [String]) {
        self.names = names
        switch self.format {
        case .csv: self.line(names.map(Self.csvField).joined(separator: ","))
        case .json: self.line("[")
        case .table:
            self.widths = names.map(\.count)
            self.numeric = names.map { _ in true }
        }
    }

    public func row(_ values: [QueryValue]) {
        self.rowsWritten += 1
        switch self.format {
        case .csv:
            self.line(values.map { Self.csvField(Self.text($0, null: "")) }.joined(separator: ","))
        case .json:
            var o = JSONObject()
            for (i, v) in values.enumerated() where i < self.names.count { o.add(self.names[i], raw: Self.json(v)) }
            self.line((self.firstJSON ? "" : ",") + o.text)
            self.firstJSON = false
        case .table:
            let cells = values.map { Self.text($0, null: "NULL") }
            if self.flushed {
                self.emit(cells)
            } else {
                for (i, c) in cells.enumerated() where i < self.widths.count { self.widths[i] = max(self.widths[i], c.count) }
                for (i, v) in values.enumerated() where i < self.numeric.count {
                    switch v {
                    case .integer, .real, .null: break
                    default: self.numeric[i] = false
                    }
                }
                self.pending.append(cells)
                if self.pending.count >= 1000 { self.flushTable() }
            }
        }
    }

    /// Ends the output (the closing bracket of JSON, the row count of a table).
    public func finish(notes: [String] = []) {
        switch self.format {
        case .csv: break
        case .json:
            self.line("]")
        case .table:
            self.flushTable()
            self.line("(\(formatCount(UInt64(self.rowsWritten))) row\(self.rowsWritten == 1 ? "" : "s"))")
            for n in notes { self.line(n) }
        }
    }

    private func flushTable() {
        guard !self.flushed else { return }
        self.flushed = true
        self.emit(self.names)
        self.line(self.widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "))
        for r in self.pending { self.emit(r) }
        self.pending = []
    }

    private func emit(_ cells: [String]) {
        var parts: [String] = []
        for (i, c) in cells.enumerated() {
            let w = i < self.widths.count ? self.widths[i] : c.count
            let right = i < self.numeric.count && self.numeric[i]
            parts.append(i == cells.count - 1 && !right ? c : TextCells.pad(c, w, left: !right))
        }
        self.line(parts.joined(separator: "  "))
    }

    static func text(_ v: QueryValue, null: String) -> String {
        switch v {
        case .null: return null
        case .integer(let i): return String(i)
        case .real(let d): return jsonNumber(d)
        case .text(let s): return s
        case .blob(let b): return "x'" + b.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() + "'"
        }
    }

    static func json(_ v: QueryValue) -> String {
        switch v {
        case .null: return "null"
        case .integer(let i): return String(i)
        case .real(let d): return jsonNumber(d)
        case .text(let s): return jsonString(s)
        case .blob(let b): return jsonString(b.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined())
        }
    }

    static func csvField(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        var out = "\""
        for c in s {
            if c == "\"" { out.append("\"") }
            out.append(c)
        }
        return out + "\""
    }
}
