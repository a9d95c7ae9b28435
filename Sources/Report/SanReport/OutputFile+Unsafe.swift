#if canImport(Glibc)
import Glibc
#endif

/// A buffered output file (exports write hundreds of megabytes): `-` is standard output. The
/// libraries use no Foundation; this is plain stdio. Unsafe code: owns the FILE pointer.
public final class OutputFile {
    public let path: String
    private let file: UnsafeMutablePointer<FILE>
    private let owned: Bool
    private var buffer: [UInt8] = []
    private var failed = false

    /// Opens (creates or truncates) `path`; `-` is standard output.
    public init(path: String) throws {
        self.path = path
        if path == "-" {
            // A stream of its own on a duplicate of fd 1: closing it leaves standard output open.
            guard let f = fdopen(dup(1), "wb") else {
                throw ReportError.cannotWrite(path, String(cString: strerror(errno)))
            }
            self.file = f
            self.owned = true
        } else {
            guard let f = fopen(path, "wb") else {
                throw ReportError.cannotWrite(path, String(cString: strerror(errno)))
            }
            self.file = f
            self.owned = true
        }
        self.buffer.reserveCapacity(1 << 20)
    }

    @inline(__always)
    public func write(_ s: String) {
        self.buffer.append(contentsOf: s.utf8)
        if self.buffer.count >= 1 << 20 { self.flush() }
    }

    /// Appends raw ASCII/UTF-8 bytes of a literal.
    @inline(__always)
    public func write(_ s: StaticString) {
        s.withUTF8Buffer { self.buffer.append(contentsOf: $0) }
        if self.buffer.count >= 1 << 20 { self.flush() }
    }

    /// Appends a decimal integer without making a String.
    @inline(__always)
    public func write(_ v: Int64) {
        if v < 0 {
            self.buffer.append(45)  // "-"
            self.write(UInt64(v == .min ? UInt64(1) << 63 : UInt64(-v)))
        } else {
            self.write(UInt64(v))
        }
    }

    @inline(__always)
    public func write(_ v: UInt64) {
        if v < 10 {
            self.buffer.append(48 + UInt8(v))
            return
        }
        var digits: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)  // 20 digits at most, in 32 bytes
        var n = 0
        var x = v
        withUnsafeMutableBytes(of: &digits) { p in
            while x > 0 {
                p[n] = 48 + UInt8(x % 10)
                x /= 10
                n += 1
            }
            for i in stride(from: n - 1, through: 0, by: -1) { self.buffer.append(p[i]) }
        }
    }

    /// Appends one byte (a separator).
    @inline(__always)
    public func byte(_ b: UInt8) { self.buffer.append(b) }

    /// Ends a line, flushing when the buffer is full.
    @inline(__always)
    public func newline() {
        self.buffer.append(10)
        if self.buffer.count >= 1 << 20 { self.flush() }
    }

    public func line(_ s: String) {
        self.write(s)
        self.buffer.append(10)
    }

    public func flush() {
        guard !self.buffer.isEmpty else { return }
        let n = self.buffer.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, self.file) }
        if n != self.buffer.count { self.failed = true }
        self.buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes and closes; throws when anything failed to be written (a full disk).
    public func close() throws {
        self.flush()
        let rc = self.owned ? fclose(self.file) : fflush(self.file)
        if rc != 0 || self.failed { throw ReportError.cannotWrite(self.path, String(cString: strerror(errno))) }
    }
}

/// Failures of exports and reports that are not the trace's.
public enum ReportError: Error, CustomStringConvertible, Sendable {
    case cannotWrite(String, String)

    public var description: String {
        switch self {
        case .cannotWrite(let path, let why): return "cannot write \(path): \(why)"
        }
    }
}
