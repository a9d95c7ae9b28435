import CSanABI
import CSanSupport
import CSanTrace
import Glibc
import SanTraceFormat
import SanTraceStore
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

    /// Creates the trace (so a folder that cannot be written fails WSPStartupEx, not later) and
    /// starts the drain thread.
    private init(config: TraceConfig, provider: ProviderResolver.Resolved, forkGeneration: Int, parentPid: Int32?)
        throws(Failure)
    {
        self.config = config
        self.provider = provider
        self.forkGeneration = forkGeneration
        let process = ProcessFacts.current()
        try Self.makeDirectory(config.directory)
        let pid = getpid()
        let base = "\(config.directory)/\(process.program)-\(pid)" + (forkGeneration > 0 ? "-\(forkGeneration)" : "")
        let metadata = TraceMetadata(
            host: process.hostname, pid: pid, parentPid: parentPid, argv: process.arguments,
            providerPath: provider.path, providerVersion: "",
            payloadPolicy: PayloadPolicy(rawValue: config.payload.rawValue) ?? .none,
            captureOptions: Self.options(config, provider: provider, program: process.program, forkGeneration: forkGeneration),
            clock: ClockCalibration.measure(milliseconds: 5))
        var options = TraceWriterOptions()
        options.segmentInterval = .milliseconds(config.flushMilliseconds)
        var writer: TraceWriter?
        var path = base + "." + Self.fileExtension
        for attempt in 2...100 where writer == nil {
            // A pid can come back in a later run into the same folder: never overwrite a trace.
            if access(path, F_OK) == 0 {
                path = base + ".\(attempt)." + Self.fileExtension
                continue
            }
            do { writer = try TraceWriter(path: path, metadata: metadata, options: options) } catch {
                throw Failure(description: "cannot create the trace \(path): \(error)")
            }
        }
        guard let writer else { throw Failure(description: "cannot find a free trace name for \(base)") }
        self.path = path
        self.drain = Drain(writer: writer, flushMilliseconds: config.flushMilliseconds)
        guard self.drain.start() else { throw Failure(description: "cannot start the drain thread") }
    }

    /// Trace files are `.santrace` (Docs/TraceFormat.md).
    public static let fileExtension = "santrace"

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// How this capture was made (meta `option.<key>`).
    private static func options(_ c: TraceConfig, provider: ProviderResolver.Resolved, program: String,
                                forkGeneration: Int) -> [(String, String)] {
        var o: [(String, String)] = [
            ("mode", provider.mode.rawValue), ("program", program), ("payload", c.payload.rawValue),
            ("lossy", c.lossy ? "1" : "0"), ("ring_kb", String(c.ringKilobytes)),
            ("flush_ms", String(c.flushMilliseconds)), ("fork_generation", String(forkGeneration)),
            ("interposer", ProviderResolver.ownPath ?? ""),
        ]
        if let run = c.runID { o.append(("run_id", run)) }
        return o
    }

    // MARK: - Process-wide state

    private static let lock = Mutex<Void>(())
    /// Set once under `lock`; read without it by the atexit and atfork handlers.
    nonisolated(unsafe) private static var current: Recorder?
    nonisolated(unsafe) private static var failed: String?
    /// Recorders of a parent process, in a forked child: never released (their SQLite connection
    /// belongs to the parent and must not be closed here).
    nonisolated(unsafe) private static var abandoned: [Recorder] = []

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
        let r = try Recorder(config: config, provider: provider, forkGeneration: 0, parentPid: nil)
        atexit { Recorder.atExit() }
        pthread_atfork({ Recorder.beforeFork() }, { Recorder.afterForkParent() }, { Recorder.afterForkChild() })
        csan_signals_install()
        csan_trace_set_enabled(1)
        return r
    }

    /// Commits everything recorded so far (waits up to `timeoutMilliseconds`).
    @discardableResult
    public static func flush(timeoutMilliseconds: Int = 2000) -> Bool {
        self.current?.drain.flushNow(timeoutMilliseconds: timeoutMilliseconds) ?? false
    }

    /// At exit: stop recording, drain what is left, close the trace.
    private static func atExit() {
        guard let r = self.current else { return }
        csan_trace_set_enabled(0)
        if !r.drain.stop(timeoutMilliseconds: 5000) { santraceLog("the drain did not finish within 5 s at exit") }
    }

    /// Before fork: wait until the drain is between two uses of the trace writer, so the child
    /// never inherits SQLite (or the writer) in the middle of a call.
    private static func beforeFork() {
        guard let r = self.current else { return }
        pthread_mutex_lock(r.drain.forkLock)
    }

    private static func afterForkParent() {
        guard let r = self.current else { return }
        pthread_mutex_unlock(r.drain.forkLock)
    }

    /// In a forked child: the parent's rings and drain do not exist here. Start over with a new
    /// file named after the child, and a drain thread of its own.
    private static func afterForkChild() {
        guard let parent = self.current else { return }
        pthread_mutex_unlock(parent.drain.forkLock)
        csan_trace_set_enabled(0)
        csan_trace_after_fork_child()
        self.abandoned.append(parent)
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
        if let failure = TraceSet.makeFolders(dir) { throw Failure(description: failure) }
    }
}

/// Who this process is, from /proc (no Foundation).
struct ProcessFacts {
    var program: String
    var arguments: [String]
    var hostname: String

    static func current() -> ProcessFacts {
        let cmdline = Self.readFile("/proc/self/cmdline")
        var args = cmdline.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        if args.last == "" { args.removeLast() }
        let first = args.first ?? "process"
        var program = first.split(separator: "/").last.map(String.init) ?? "process"
        program = String(program.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? $0 : "_" })
        return ProcessFacts(program: program.isEmpty ? "process" : program, arguments: args,
                            hostname: TraceMetadata.hostName())
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
