// do not change without reading Docs/TraceFormat.md
//
// The `.santrace` format: constants every writer and reader share. The normative description is
// Docs/TraceFormat.md; this file, Generated/Schema.swift, FieldEncoding.swift and
// SegmentBody.swift are its Swift mirror. Values written here are never reused for another
// meaning: a retired constant keeps its number with a `Deprecated` suffix.

/// A format version. Compatibility rule (Docs/TraceFormat.md §Versions): a reader reads every
/// trace whose major equals its own and whose minor is any value (fields and tables added by a
/// newer minor are skipped by length); it refuses a newer major with
/// `TraceFormatError.Kind.unsupportedVersion`; older majors are read by kept decoders.
@frozen
public struct FormatVersion: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var major: UInt16
    public var minor: UInt16

    public init(major: UInt16, minor: UInt16) {
        self.major = major
        self.minor = minor
    }

    /// Parses `"1.0"`.
    public init?(_ text: String) {
        let parts = text.split(separator: ".")
        guard parts.count == 2, let a = UInt16(parts[0]), let b = UInt16(parts[1]) else { return nil }
        self.init(major: a, minor: b)
    }

    public static func < (a: FormatVersion, b: FormatVersion) -> Bool {
        (a.major, a.minor) < (b.major, b.minor)
    }

    public var description: String { "\(self.major).\(self.minor)" }
}

/// The format's constants.
public enum TraceFormat {
    /// The version this build writes.
    public static let version = FormatVersion(major: 1, minor: 0)

    /// `PRAGMA application_id` of every `.santrace` file: "SANT" (SQLite header offset 68,
    /// big-endian). A SQLite file with another application id is not a trace.
    public static let applicationID: Int32 = 0x5341_4E54

    /// `meta.value` of key `magic`.
    public static let metaMagic = "santrace"

    /// The first four bytes of every decompressed segment body: "SSG1" (little-endian u32).
    public static let segmentMagic: UInt32 = 0x3147_5353

    /// Size of the fixed segment header (SegmentBody.swift).
    public static let segmentHeaderSize = 40

    /// Default segment cut: this many raw (uncompressed) record bytes…
    public static let defaultSegmentRawBytes = 1 << 20
    /// …or this much wall time since the segment's first event, whichever comes first.
    public static let defaultSegmentInterval: Duration = .milliseconds(100)

    // Limits a reader enforces (hostile input must not make it allocate or loop without bound).

    /// Largest decompressed segment body a reader accepts.
    public static let maxSegmentBodyBytes = 64 << 20
    /// Most events in one segment.
    public static let maxEventsPerSegment = 1 << 24
    /// Most fields per record a reader decodes (more are skipped by length).
    public static let maxFieldsPerRecord = 16
    /// Entries of a `bufferList`, `bufferListEx` or `payload` field.
    public static let maxListEntries = 1024
    /// Length of a `sockaddr` field.
    public static let maxSockaddrBytes = 128
    /// Length of a `bytes` or `descriptorBytes` field. Writers truncate `bytes` to it (the
    /// interposer keeps at most 256); `descriptorBytes` longer than this are refused.
    public static let maxBytesField = 4096
    /// Length of one buffer of a `full` payload.
    public static let maxPayloadChunk = 16 << 20
    /// Thread capture ids are 1 … maxThreadID (0 is invalid).
    public static let maxThreadID: UInt32 = 65535
}

/// What a trace keeps of the data buffers (`payload` fields).
public enum PayloadPolicy: String, CaseIterable, Sendable {
    /// Nothing: `payload` fields are absent (policy byte 0).
    case none
    /// One 64-bit hash per buffer (policy byte 1): XXH64 (seed 0) of the buffer's bytes, ``payloadHash(_:)``.
    case hash
    /// The bytes of every buffer (policy byte 2).
    case full
}
