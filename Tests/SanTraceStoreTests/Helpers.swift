import Glibc
import SanTraceFormat

@testable import SanTraceStore
import TraceTestSupport

enum Fixtures {
    static func metadata() -> TraceMetadata {
        TraceMetadata(argv: ["test"], providerPath: "synthetic", providerVersion: "0", clock: SyntheticWorkload.clock)
    }

    /// A closed synthetic trace.
    @discardableResult
    static func trace(_ path: String, _ kind: SyntheticWorkload.Kind = .mixed, events: Int = 20_000, segmentBytes: Int = 16 << 10,
                      seed: UInt64 = 1) throws -> Int {
        var o = TraceWriterOptions()
        o.segmentRawBytes = segmentBytes
        o.overwrite = true
        let w = try TraceWriter(path: path, metadata: metadata(), options: o)
        var g = SyntheticWorkload(kind, seed: seed)
        let n = try g.generate(into: w, events: events)
        try w.close()
        return n
    }
}

func copyFile(_ from: String, _ to: String) {
    writeFile(to, readFile(from))
}
