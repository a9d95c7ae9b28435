import Glibc

/// A `TraceSink` writing the interim raw capture format (`RawTraceCodec`): events are encoded
/// into memory and appended as one checksummed block per flush with plain write(2) on a local
/// file: the tracer never uses the traced network.
public final class RawFileSink: TraceSink {
    public let path: String
    private let fd: Int32
    private var writer = RawTraceCodec.Writer()

    public struct OpenError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Creates (exclusively) the file at `path`.
    public init(path: String) throws(OpenError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw OpenError(description: "cannot create \(path): \(String(cString: strerror(errno)))") }
        self.path = path
        self.fd = fd
        _ = self.append(RawTraceCodec.fileMagic)
    }

    deinit { Glibc.close(self.fd) }

    public var pendingBytes: Int { self.writer.bytes.count }

    public func begin(_ metadata: TraceMetadata) throws {
        self.writer.u8(UInt8(ascii: "M"))
        self.writer.kv(metadata.keyValues)
        try self.flush(CaptureStats())
    }

    public func defineDescriptor(id: UInt64, bytes: [UInt8]) throws {
        self.writer.u8(UInt8(ascii: "D"))
        self.writer.u64(id)
        self.writer.blob(bytes)
    }

    public func write(_ event: TraceEvent) throws { self.writer.event(event) }

    public func flush(_ stats: CaptureStats) throws {
        self.writer.u8(UInt8(ascii: "S"))
        self.writer.kv(stats.keyValues)
        let block = RawTraceCodec.block(self.writer.bytes)
        self.writer.bytes.removeAll(keepingCapacity: true)
        guard self.append(block) else {
            throw OpenError(description: "write to \(self.path) failed: \(String(cString: strerror(errno)))")
        }
    }

    public func close(_ stats: CaptureStats) throws { try self.flush(stats) }

    private func append(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = Glibc.write(self.fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                off += n
            }
            return true
        }
    }
}
