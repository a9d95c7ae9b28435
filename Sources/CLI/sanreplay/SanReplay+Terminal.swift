import ArgumentParser
import SanDiff
import SanTraceStore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A failure a command reports itself: its message and the exit code it maps to.
struct CommandFailure: Error {
    var message: String
    var exit: SanReplayExit
}

/// Color and progress options of the commands that report.
struct TerminalOptions: ParsableArguments {
    @Flag(name: .customLong("no-color"), help: "No colors (also when NO_COLOR is set or stdout is not a terminal).")
    var noColor = false

    /// Colors when stdout is a terminal, `NO_COLOR` is unset (no-color.org) and --no-color is not given.
    var style: TextStyle {
        let env = getenv("NO_COLOR").map { String(cString: $0) } ?? ""
        return TextStyle(color: !self.noColor && env.isEmpty && isatty(1) == 1)
    }
}

/// A progress bar on standard error, drawn only when it is a terminal; fed from any thread.
final class ProgressBar: Sendable {
    private let total: UInt64
    private let label: String
    private let enabled: Bool
    private let state = Mutex<(done: UInt64, drawnAt: UInt64, drawn: Bool)>((0, 0, false))

    init(total: UInt64, label: String) {
        self.total = max(total, 1)
        self.label = label
        self.enabled = isatty(2) == 1 && getenv("SANREPLAY_NO_PROGRESS") == nil
    }

    /// The callback libraries take (`progress: (UInt64) -> Void`).
    var callback: (@Sendable (UInt64) -> Void)? {
        guard self.enabled else { return nil }
        return { [self] n in self.add(n) }
    }

    func add(_ n: UInt64) {
        self.state.withLock { s in
            s.done += n
            let now = monotonicNanoseconds()
            guard now - s.drawnAt > 100_000_000 else { return }  // ten redraws a second at most
            s.drawnAt = now
            s.drawn = true
            self.draw(s.done)
        }
    }

    private func draw(_ done: UInt64) {
        let f = min(1, Double(done) / Double(self.total))
        let width = 30
        let filled = Int(f * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let line = "\r\(self.label) [\(bar)] \(Int(f * 100))% \(formatCount(done)) events "
        _ = line.withCString { write(2, $0, strlen($0)) }
    }

    /// Clears the bar.
    func finish() {
        self.state.withLock { s in
            guard s.drawn else { return }
            let clear = "\r" + String(repeating: " ", count: 80) + "\r"
            _ = clear.withCString { write(2, $0, strlen($0)) }
            s.drawn = false
        }
    }
}

func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
