import CSanABI
import CSanTrace
import Glibc
import Synchronization

/// The recording of this process: configuration, the real provider, the drain and its trace
/// file. Made at the first WSPStartupEx; a forked child gets a fresh one (new file, new drain).
public final class Recorder: @unchecked Sendable {
    public let config: TraceConfig
    public let provider: ProviderResolver.Resolved
    /// The trace file of this process.
    public let path: String
    let forkGeneration: Int
    private let drain: Drain

    private init(config: TraceConfig, provider: ProviderResolver.Resolved, forkGeneration: Int, parentPid: Int32)
        throws(Failure)
    {
        self.config = config
        self.provider = provider
        self.forkGeneration = forkGeneration
        let process = ProcessInfo.current()
        try Self.makeDirectory(config.directory)
        let pid = getpid()
        let suffix = forkGeneration > 0 ? "-\(forkGeneration)" : ""
        self.path = "\(config.directory)/\(process.program)-\(pid)\(suffix).\(Self.fileExtension)"
        let sink: RawFileSink
        do { sink = try RawFileSink(path: self.path) } catch { throw Failure(description: error.description) }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let meta = TraceMetadata(
            program: process.program, pid: pid, arguments: process.arguments, hostname: process.hostname,
            mode: provider.mode.rawValue, provider: provider.path, payload: config.payload.rawValue,
            lossy: config.lossy, ringBytes: UInt64(config.ringKilobytes) * 1024, forkGeneration: forkGeneration,
            parentPid: parentPid, startRealtimeNanoseconds: UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec),
            startTicks: csan_trace_now_ticks(), ticksPerSecond: 0)
        self.drain = Drain(sink: sink, metadata: meta, flushMilliseconds: config.flushMilliseconds)
        guard self.drain.start() else { throw Failure(description: "cannot start the drain thread") }
    }

    /// The extension of trace files while the drain writes the interim raw format.
    public static let fileExtension = "sanraw"

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    // MARK: - Process-wide state

    private static let lock = Mutex<Void>(())
    /// Set once under `lock`; read without it by the atexit and atfork handlers.
    nonisolated(unsafe) private static var current: Recorder?
    nonisolated(unsafe) private static var failed: String?

    /// WSPStartupEx of libsantrace.so: set up once, then wrap the real provider's startup.
    public static func startup(version: UInt16, data: UnsafeMutablePointer<WSPDATA>?,
                               protocolInfo: UnsafeMutablePointer<WSAPROTOCOL_INFOW>?,
                               upcalls: UnsafeMutablePointer<WSPUPCALLTABLEEX>?,
                               procTable: UnsafeMutablePointer<WSPPROC_TABLE>?) -> Int32 {
        let recorder: Recorder? = self.lock.withLock { _ in
            if let r = self.current { return r }
            if self.failed != nil { return nil }
            do throws(Failure) {
                let r = try self.begin()
                self.current = r
                return r
            } catch {
                self.failed = error.description
                santraceLog(error.description)
                return nil
            }
        }
        guard let recorder else { return WSASYSNOTREADY }
        return csan_trace_startup(recorder.provider.startup, version, data, protocolInfo, upcalls, procTable)
    }

    private static func begin() throws(Failure) -> Recorder {
        let config: TraceConfig
        do { config = try TraceConfig.fromEnvironment() } catch { throw Failure(description: error.description) }
        let provider: ProviderResolver.Resolved
        do { provider = try ProviderResolver.resolve(provider: config.provider) } catch {
            throw Failure(description: error.description)
        }
        csan_trace_configure(config.payload.cValue, config.lossy ? 1 : 0, UInt64(config.ringKilobytes) * 1024)
        let r = try Recorder(config: config, provider: provider, forkGeneration: 0, parentPid: getppid())
        atexit { Recorder.atExit() }
        pthread_atfork(nil, nil) { Recorder.afterForkChild() }
        csan_signals_install()
        csan_trace_set_enabled(1)
        return r
    }

    /// Flushes everything recorded so far (waits up to `timeoutMilliseconds`).
    @discardableResult
    public static func flush(timeoutMilliseconds: Int = 2000) -> Bool {
        self.current?.drain.flushNow(timeoutMilliseconds: timeoutMilliseconds) ?? false
    }

    /// At exit: stop recording, drain what is left, close the file.
    private static func atExit() {
        guard let r = self.current else { return }
        csan_trace_set_enabled(0)
        if !r.drain.stop(timeoutMilliseconds: 5000) { santraceLog("the drain did not finish within 5 s at exit") }
    }

    /// In a forked child: the parent's rings and drain do not exist here. Start over with a new
    /// file named after the child, and a drain thread of its own.
    private static func afterForkChild() {
        guard let parent = self.current else { return }
        csan_trace_set_enabled(0)
        csan_trace_after_fork_child()
        do throws(Failure) {
            let child = try Recorder(config: parent.config, provider: parent.provider,
                                     forkGeneration: parent.forkGeneration + 1, parentPid: getppid())
            self.current = child
            csan_trace_set_enabled(1)
        } catch {
            self.current = nil
            santraceLog("forked child \(getpid()) is not traced: \(error.description)")
        }
    }

    private static func makeDirectory(_ dir: String) throws(Failure) {
        var path = ""
        for part in dir.split(separator: "/", omittingEmptySubsequences: false) {
            path += (path.isEmpty && dir.hasPrefix("/") ? "" : (path.isEmpty ? "" : "/")) + part
            if path.isEmpty { path = "/"; continue }
            if mkdir(path, 0o755) != 0 && errno != EEXIST {
                throw Failure(description: "cannot create \(path): \(String(cString: strerror(errno)))")
            }
        }
    }
}

/// Who this process is, from /proc (no Foundation).
struct ProcessInfo {
    var program: String
    var arguments: [String]
    var hostname: String

    static func current() -> ProcessInfo {
        let cmdline = Self.readFile("/proc/self/cmdline")
        var args = cmdline.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        if args.last == "" { args.removeLast() }
        let first = args.first ?? "process"
        var program = first.split(separator: "/").last.map(String.init) ?? "process"
        program = String(program.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? $0 : "_" })
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, 255)
        let hostname = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return ProcessInfo(program: program.isEmpty ? "process" : program, arguments: args, hostname: hostname)
    }

    static func readFile(_ path: String) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &buf, buf.count)
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return out
    }
}
