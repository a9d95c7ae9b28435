import Foundation
import SanInterpose
import SanTestSupport

/// Runs a harness from the products folder and reads the traces it left.
enum Harness {
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
        var traceDirectory: String

        /// Removes the run's folder (a stress run leaves hundreds of MB).
        func cleanup() { try? FileManager.default.removeItem(atPath: self.traceDirectory) }

        /// Every capture file of the run, decoded.
        func traces() throws -> [RawTraceCodec.Contents] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: self.traceDirectory)) ?? []
            return try names.filter { $0.hasSuffix("." + Recorder.fileExtension) }.sorted().map {
                try RawTraceCodec.decode(Array(try Data(contentsOf: URL(fileURLWithPath: self.traceDirectory + "/" + $0))))
            }
        }
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
        for k in ["SANTRACE_PROVIDER", "SANTRACE_PAYLOAD", "LD_PRELOAD", "SANTRACE_LOSSY"] { env[k] = nil }
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

/// Checks that hold for every complete capture.
enum TraceChecks {
    /// Per recorded thread, sequence numbers 0..<n with no gap and no repeat.
    static func gaplessSequences(_ events: [TraceEvent]) -> [UInt32: Int]? {
        var byThread: [UInt32: [UInt64]] = [:]
        for e in events where e.thread != 0 { byThread[e.thread, default: []].append(e.sequence) }
        var counts: [UInt32: Int] = [:]
        for (t, seqs) in byThread {
            let sorted = seqs.sorted()
            guard sorted.enumerated().allSatisfy({ UInt64($0.offset) == $0.element }) else { return nil }
            counts[t] = sorted.count
        }
        return counts
    }

    static func start(of completion: TraceEvent) -> (UInt32, UInt64)? {
        guard completion.kind == .completion, case .callRef(let t, let s) = completion.fields[1], t != 0 || s != 0
        else { return nil }
        return (t, s)
    }
}
