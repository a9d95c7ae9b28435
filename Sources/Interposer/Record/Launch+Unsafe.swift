#if canImport(Glibc)
import Glibc
#endif

/// Runs the recorded command as a child process: posix_spawn with the recording's environment,
/// SIGINT and SIGTERM forwarded to it (the traced process then flushes its trace and ends as it
/// would have), and its exit status returned the way a shell reports it (128 + N for a signal).
///
/// Unsafe code: C argument vectors, signal masks and posix_spawn attributes.
public enum Launcher {
    /// The signals forwarded to the child.
    public static let forwarded: [Int32] = [SIGINT, SIGTERM]

    /// Starts `command` with `environment` (KEY=VALUE), calls `started` with its pid, forwards
    /// SIGINT/SIGTERM until it exits, and returns its status (exit code, or 128 + signal).
    public static func run(_ command: [String], environment: [String], started: (pid_t) -> Void) throws(RecordError) -> Int32 {
        // Block the forwarded signals (and SIGCHLD) here, so they are waited for, not handled;
        // the child starts with an empty mask and default dispositions.
        var waitSet = sigset_t()
        sigemptyset(&waitSet)
        for s in Self.forwarded + [SIGCHLD] { sigaddset(&waitSet, s) }
        var oldMask = sigset_t()
        sigprocmask(SIG_BLOCK, &waitSet, &oldMask)
        defer { sigprocmask(SIG_SETMASK, &oldMask, nil) }

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in Self.forwarded + [SIGCHLD, SIGPIPE] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = command.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var pid = pid_t()
        let rc = posix_spawnp(&pid, command[0], nil, &attr, argv, envp)
        guard rc == 0 else {
            let why = rc == ENOENT ? "command not found" : String(cString: strerror(rc))
            throw .launch("cannot start \(command[0]): \(why)")
        }
        started(pid)
        return try self.wait(pid, waitSet)
    }

    private static func wait(_ pid: pid_t, _ waitSet: sigset_t) throws(RecordError) -> Int32 {
        var set = waitSet
        while true {
            var status: Int32 = 0
            let w = waitpid(pid, &status, WNOHANG)
            if w == pid { return Self.shellStatus(status) }
            if w < 0 && errno != EINTR { throw .launch("waitpid: \(String(cString: strerror(errno)))") }
            var info = siginfo_t()
            var timeout = timespec(tv_sec: 0, tv_nsec: 200_000_000)  // also polls waitpid, in case SIGCHLD is lost
            let sig = sigtimedwait(&set, &info, &timeout)
            if Self.forwarded.contains(sig) { kill(pid, sig) }
        }
    }

    /// The exit code, or 128 + the signal that ended the process (as a shell reports it).
    public static func shellStatus(_ status: Int32) -> Int32 {
        let sig = status & 0x7F
        return sig == 0 ? (status >> 8) & 0xFF : 128 + sig
    }
}
