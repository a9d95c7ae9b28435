/// A trace that cannot be read as a `.santrace`: what failed and where (file, segment, offset in
/// the decompressed segment body). Every reader throws this for hostile or damaged input; the CLI
/// maps it to exit code 2.
public struct TraceFormatError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, for code that branches on it.
    public enum Kind: String, Sendable {
        /// Not a file, empty, not SQLite, or a SQLite database of something else.
        case notATrace
        /// A major version this reader does not know.
        case unsupportedVersion
        /// The SQLite file itself is damaged or cut short.
        case databaseDamaged
        /// A required table, row or metadata key is missing or has the wrong type.
        case missingData
        /// A segment's CRC, LZ4 frame or content checksum is wrong.
        case checksum
        /// A segment body or record does not decode.
        case corruptRecord
        /// Segments or sequence numbers do not follow each other.
        case discontinuity
    }

    public var kind: Kind
    public var what: String
    public var file: String?
    public var segment: Int64?
    public var offset: Int?

    public init(_ kind: Kind, _ what: String, file: String? = nil, segment: Int64? = nil, offset: Int? = nil) {
        self.kind = kind
        self.what = what
        self.file = file
        self.segment = segment
        self.offset = offset
    }

    /// The same error with the file (and segment) filled in where they were unknown.
    public func at(file: String? = nil, segment: Int64? = nil) -> TraceFormatError {
        var copy = self
        if copy.file == nil { copy.file = file }
        if copy.segment == nil { copy.segment = segment }
        return copy
    }

    public var description: String {
        var location: [String] = []
        if let f = self.file { location.append(f) }
        if let s = self.segment { location.append("segment \(s)") }
        if let o = self.offset { location.append("offset \(o)") }
        return (location.isEmpty ? "" : location.joined(separator: ", ") + ": ") + self.what
    }
}
