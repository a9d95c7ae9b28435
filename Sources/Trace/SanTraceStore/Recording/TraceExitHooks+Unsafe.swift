import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Hooks that let a trace writer finish its trace when the process ends: on `exit()` and on
/// SIGINT / SIGTERM. The interposer installs them (its drain thread does the flushing); the
/// in-process ``TraceRecorder`` uses them too.
///
/// The signal handler does only async-signal-safe work: it bumps an atomic request counter,
/// writes a byte to a pipe (``wakeFD``) so a drain thread blocked in poll wakes up, then waits (in
/// 1 ms nanosleeps, at most `waitMilliseconds`) for a drain thread to call
/// ``acknowledgeFlush()``, restores the previous disposition and re-raises the signal, so the
/// process ends exactly as it would have without the tracer.
///
/// Unsafe code: a C signal handler and global state.
public enum TraceExitHooks {
    static let requests = Atomic<UInt32>(0)
    static let acknowledged = Atomic<UInt32>(0)
    static let waitMs = Atomic<Int32>(2000)
    nonisolated(unsafe) static var previous = (UnsafeMutablePointer<sigaction>.allocate(capacity: 1),
                                               UnsafeMutablePointer<sigaction>.allocate(capacity: 1))
    /// A non-blocking pipe: the handler writes a byte to [1]; drain threads may poll [0].
    nonisolated(unsafe) static var pipeFDs: (Int32, Int32) = (-1, -1)
    static let installed = Atomic<Bool>(false)

    /// A descriptor that becomes readable when a signal asks for a flush (poll it for POLLIN next
    /// to your own wake-ups); -1 before ``installSignalFlush(waitMilliseconds:)``.
    public static var wakeFD: Int32 { pipeFDs.0 }

    /// The number of flush requests so far (compare with the last one you handled).
    public static var flushRequests: UInt32 { requests.load(ordering: .acquiring) }

    /// Installs the SIGINT and SIGTERM handlers (once per process).
    public static func installSignalFlush(waitMilliseconds: Int32 = 2000) {
        waitMs.store(waitMilliseconds, ordering: .releasing)
        guard !installed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) == 0 {
            for fd in fds {
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            }
            pipeFDs = (fds[0], fds[1])
        }
        _ = requests.load(ordering: .relaxed)  // initialise the globals outside the handler
        _ = acknowledged.load(ordering: .relaxed)
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { sig in TraceExitHooks.handle(sig) }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        sigaction(SIGINT, &action, previous.0)
        sigaction(SIGTERM, &action, previous.1)
    }

    /// A drain thread calls this after committing what it had when it saw a new request.
    public static func acknowledgeFlush() {
        acknowledged.store(requests.load(ordering: .acquiring), ordering: .releasing)
        if pipeFDs.0 >= 0 {
            var buf = (UInt64(0), UInt64(0))
            _ = read(pipeFDs.0, &buf, 16)
        }
    }

    static func handle(_ sig: Int32) {
        let target = requests.add(1, ordering: .acquiringAndReleasing).newValue
        if pipeFDs.1 >= 0 {
            var one: UInt8 = 1
            _ = write(pipeFDs.1, &one, 1)
        }
        var waited: Int32 = 0
        let limit = waitMs.load(ordering: .relaxed)
        while acknowledged.load(ordering: .acquiring) < target && waited < limit {
            var ts = timespec(tv_sec: 0, tv_nsec: 1_000_000)
            nanosleep(&ts, nil)
            waited += 1
        }
        sigaction(sig, sig == SIGINT ? previous.0 : previous.1, nil)
        raise(sig)
    }

    // MARK: exit()

    static let exitBodies = Mutex<[@Sendable () -> Void]>([])
    static let atexitInstalled = Atomic<Bool>(false)

    /// Runs `body` when the process calls `exit()` (or returns from main), before the C runtime
    /// tears down. Bodies run in reverse order of registration.
    public static func atExit(_ body: @escaping @Sendable () -> Void) {
        exitBodies.withLock { $0.append(body) }
        if !atexitInstalled.exchange(true, ordering: .acquiringAndReleasing) {
            atexit { TraceExitHooks.runExitBodies() }
        }
    }

    static func runExitBodies() {
        let bodies = exitBodies.withLock { b -> [@Sendable () -> Void] in
            defer { b.removeAll() }
            return b
        }
        for body in bodies.reversed() { body() }
    }
}
