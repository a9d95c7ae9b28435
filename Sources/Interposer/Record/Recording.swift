import SanTraceStore

#if canImport(Glibc)
import Glibc
#endif

/// `sanreplay record`: runs a command with the interposer attached, waits for it, and summarises
/// the traces it wrote.
public enum Recording {
    public struct Result: Sendable {
        /// The command's exit code, or 128 + the signal that ended it.
        public var status: Int32
        public var summary: RecordSummary
    }

    /// Runs `plan`. `log` receives the line saying which process started and where its traces go.
    public static func run(_ plan: RecordPlan, log: (String) -> Void) throws(RecordError) -> Result {
        try self.makeDirectory(plan.directory)
        let started = Int(time(nil))
        let status = try Launcher.run(plan.command, environment: plan.environment(Self.currentEnvironment())) { pid in
            log("sanreplay record: \(plan.command.joined(separator: " ")) started as pid \(pid)"
                + " (\(plan.attach == .layer ? "SAN_LAYER" : "LD_PRELOAD")=\(plan.interposer)); traces into \(plan.directory)")
        }
        return Result(status: status, summary: RecordSummary.collect(directory: plan.directory, runID: plan.runID,
                                                                     since: started))
    }

    /// This process's environment as KEY=VALUE strings.
    public static func currentEnvironment() -> [String] {
        var out: [String] = []
        var p = environ
        while let entry = p.pointee {
            out.append(String(cString: entry))
            p += 1
        }
        return out
    }

    static func makeDirectory(_ dir: String) throws(RecordError) {
        if let failure = TraceSet.makeFolders(dir) { throw .launch(failure) }
    }
}
