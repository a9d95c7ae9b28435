import CSanSupport

#if canImport(Glibc)
import Glibc
#endif

/// A recorded replay of several endpoints runs one process per endpoint: the interposer writes
/// one trace per process, so the replay's trace set has the shape of the original (one trace
/// per recorded process) and `sanreplay diff` pairs them. Each child is `sanreplay replay
/// --endpoint NAME --coordinator 127.0.0.1:PORT` started with the recorded program's name as
/// argv[0] (the diff pairs endpoints by program and role); this process serves the coordinator
/// and gathers the children's reports. Unsafe code: posix_spawn's C arrays.
enum ProcessSplit {
    static func run(plan: ReplayPlan, options: ReplayOptions, executable: String, log: @escaping (String) -> Void)
        throws -> ReplayReport
    {
        let server = try CoordinatorServer(address: "127.0.0.1:0", expected: plan.traces.count, log: log)
        defer { server.shutdown() }
        let address = "127.0.0.1:\(server.port)"
        var dir = "/tmp/sanreplay-split-XXXXXX".utf8CString
        guard dir.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw ReplayError.unsupported("cannot create a temporary folder: \(String(cString: strerror(errno)))")
        }
        let tmp = String(cString: dir.withUnsafeBufferPointer { $0.baseAddress! })
        defer {
            for t in plan.traces { unlink("\(tmp)/\(t.index).txt"); unlink("\(tmp)/\(t.index).json") }
            rmdir(tmp)
        }
        var children: [(EndpointTrace, pid_t)] = []
        for t in plan.traces {
            var args = [t.program, "replay", options.trace, "--endpoint", t.name, "--coordinator", address,
                        "--pace", options.pace.description, "--divergence", options.divergence.rawValue,
                        "--timeout", String(options.timeoutSeconds), "--report-json", "\(tmp)/\(t.index).json"]
            if let b = options.backend { args += ["--backend", b] }
            if let r = options.recordDirectory { args += ["--record", r] }
            let pid = try Self.spawn(executable, args, stdout: "\(tmp)/\(t.index).txt")
            children.append((t, pid))
            log("sanreplay: endpoint \(t.name) in process \(pid)")
        }
        var report = ReplayReport(trace: options.trace, endpoints: plan.traces.map(\.name), synthetic: [],
                                  backend: options.backend ?? "default", pace: options.pace.description,
                                  policy: options.divergence.rawValue)
        for (t, pid) in children {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            let exited = status & 0x7f == 0
            let code = exited ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            report.children.append(ReplayReport.Child(
                endpoint: t.name, process: Int(pid), exitCode: Int(code),
                text: Self.read("\(tmp)/\(t.index).txt"), json: Self.read("\(tmp)/\(t.index).json")))
            if code != 0 { report.divergenceCounts["endpoint", default: 0] += 1 }
        }
        report.recordDirectory = options.recordDirectory
        report.notes = plan.notes
        return report
    }

    private static func spawn(_ path: String, _ args: [String], stdout: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var cargs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { for a in cargs { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, nil, &cargs, environ)
        guard rc == 0 else {
            throw ReplayError.unsupported("cannot start \(path): \(String(cString: strerror(rc)))")
        }
        return pid
    }

    private static func read(_ path: String) -> String {
        guard let f = fopen(path, "r") else { return "" }
        defer { fclose(f) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buf, 1, buf.count, f)
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }
}
