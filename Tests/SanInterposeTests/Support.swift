import Foundation
import SanInterpose
import SanTestSupport
import SanTraceFormat
import SanTraceStore

/// Runs a harness from the products folder and reads the traces it left.
enum Harness {
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
        var traceDirectory: String

        /// Removes the run's folder (a stress run leaves tens of MB).
        func cleanup() { try? FileManager.default.removeItem(atPath: self.traceDirectory) }

        /// The `.santrace` files of the run, sorted.
        var paths: [String] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: self.traceDirectory)) ?? []
            return names.filter { $0.hasSuffix("." + Recorder.fileExtension) }.sorted().map { self.traceDirectory + "/" + $0 }
        }

        /// Every trace of the run, opened.
        func traces() throws -> [Trace] { try self.paths.map { try Trace(path: $0) } }
    }

    static func tempDirectory() -> String {
        let dir = NSTemporaryDirectory() + "santrace-test-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Starts `program` (a products-folder name) with `arguments` and extra environment; `kill`
    /// sends SIGKILL after that many milliseconds.
    static func run(_ program: String, _ arguments: [String], environment: [String: String] = [:],
                    killAfterMilliseconds: Int? = nil) throws -> Run {
        let dir = self.tempDirectory()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: SanProducts.path(program))
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["SANTRACE_DIR"] = dir
        for k in ["SANTRACE_PROVIDER", "SANTRACE_PAYLOAD", "LD_PRELOAD", "SANTRACE_LOSSY", "SAN_LAYER"] { env[k] = nil }
        env.merge(environment) { $1 }
        p.environment = env
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        if let ms = killAfterMilliseconds {
            usleep(UInt32(ms) * 1000)
            kill(p.processIdentifier, SIGKILL)
        }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Run(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                   stderr: String(decoding: e, as: UTF8.self), traceDirectory: dir)
    }

    static var interposer: String { SanProducts.path("libsantrace.so") }
}

/// One trace of a run, read through the store.
struct Trace {
    let reader: TraceReader
    var meta: [String: String] { self.reader.meta }

    init(path: String) throws { self.reader = try TraceReader(path: path) }

    /// Every event as a value (small traces only).
    var events: [TraceEvent] { get throws { try self.reader.events() } }

    /// A `meta` counter the interposer writes at close (`santrace.<name>`).
    func counter(_ name: String) -> UInt64? { self.meta["santrace." + name].flatMap(UInt64.init) }

    /// RDMA descriptor bytes by capture id (the `descriptors` table).
    func descriptors() throws -> [UInt64: (bytes: [UInt8], registered: Bool)] {
        let db = try SQLiteConnection(path: self.reader.path, readOnly: true)
        let s = try db.prepare("SELECT id, bytes, registered_seq IS NOT NULL FROM descriptors")
        var out: [UInt64: (bytes: [UInt8], registered: Bool)] = [:]
        while try s.step() { out[UInt64(s.int(0))] = (Array(s.unsafeBlob(1)), s.int(2) != 0) }
        return out
    }
}

/// Checks that hold for every complete capture, in one pass over the events (no per-event
/// allocation: the stress test reads millions).
struct TraceCheck {
    /// Events per thread; false when a thread's sequence is not 1, 2, 3 … without gaps.
    var perThread: [UInt32: UInt64] = [:]
    var gapless = true
    var events: UInt64 = 0
    /// ENTERs of operation-starting calls, by (thread, sequence) packed into one UInt64.
    var operationStarts = Set<UInt64>()
    /// COMPLETION start references (packed); `unlinked` counts those with none.
    var completionStarts: [UInt64] = []
    var unlinked = 0
    var counts: [String: Int] = [:]

    static func key(_ thread: UInt32, _ seq: UInt64) -> UInt64 { UInt64(thread) << 40 | seq }

    init(_ trace: Trace) throws {
        let startsOp = Set(Schema.functions.filter(\.startsOperation).map { FunctionID($0.id) })
        var last: [UInt32: UInt64] = [:]
        try trace.reader.forEach { r in
            self.events += 1
            let prev = last[r.thread] ?? 0
            if r.threadSeq != prev + 1 { self.gapless = false }
            last[r.thread] = r.threadSeq
            self.perThread[r.thread, default: 0] += 1
            let name = r.kind == .completion || r.kind == .lookup ? "\(r.kind)" : "\(r.kind) \(r.function.name)"
            self.counts[name, default: 0] += 1
            if r.kind == .enter && startsOp.contains(r.function) { self.operationStarts.insert(Self.key(r.thread, r.threadSeq)) }
            if r.kind == .completion, let c = r.callRef(1) {
                if c.thread == 0 { self.unlinked += 1 } else { self.completionStarts.append(Self.key(c.thread, c.sequence)) }
            }
        }
    }

    func count(_ kind: EventKind, _ function: String? = nil) -> Int {
        self.counts[function.map { "\(kind) \($0)" } ?? "\(kind)"] ?? 0
    }
}
