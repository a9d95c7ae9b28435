import ArgumentParser
import SanTraceFormat
import SanTraceStore
import SanReport

#if canImport(Glibc)
import Glibc
#endif

/// The exit codes of every `sanreplay` subcommand (documented in the root command's discussion).
enum SanReplayExit: Int32 {
    /// OK: intact, identical, done.
    case ok = 0
    /// Differences: a semantic divergence (diff), a replay check that failed.
    case differences = 1
    /// A damaged or unreadable trace.
    case damagedTrace = 2
    /// diff: a performance regression past the threshold, and no semantic divergence.
    case regression = 3
    /// diff: both a semantic divergence and a performance regression.
    case divergenceAndRegression = 4
    /// Bad options or arguments (EX_USAGE).
    case usage = 64
    /// Anything else: a bug (EX_SOFTWARE).
    case internalFailure = 70

    var exitCode: ExitCode { ExitCode(self.rawValue) }

    /// Maps an error to its exit code, prints it, and exits. The only place errors become codes.
    static func exit(for error: Error, command: SanReplay.Type) -> Never {
        switch error {
        case let e as TraceFormatError:
            printError("sanreplay: \(e)")
            Glibc.exit(SanReplayExit.damagedTrace.rawValue)
        case let e as SQLiteError where e.isDamage:
            printError("sanreplay: damaged trace: \(e)")
            Glibc.exit(SanReplayExit.damagedTrace.rawValue)
        case let e as TraceStoreError:
            if case .sqlite(let s) = e, s.isDamage {
                printError("sanreplay: damaged trace: \(s)")
                Glibc.exit(SanReplayExit.damagedTrace.rawValue)
            }
            printError("sanreplay: \(e)")
            Glibc.exit(SanReplayExit.internalFailure.rawValue)
        case let e as RecordEncodingError:
            printError("sanreplay: internal error: \(e)")
            Glibc.exit(SanReplayExit.internalFailure.rawValue)
        case let e as SQLiteError:
            printError("sanreplay: \(e)")
            Glibc.exit(SanReplayExit.internalFailure.rawValue)
        case let e as ReportError:
            printError("sanreplay: \(e)")
            Glibc.exit(SanReplayExit.usage.rawValue)
        case let e as CommandFailure:
            printError("sanreplay: \(e.message)")
            Glibc.exit(e.exit.rawValue)
        default:
            // ArgumentParser's own errors: help (0), validation and parse errors (64), ExitCode.
            command.exit(withError: error)
        }
    }
}

func printError(_ s: String) {
    let line = s + "\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}

/// Writes to standard output through a buffer (dumps print millions of lines).
final class Output {
    private var buffer: [UInt8] = []
    init() { self.buffer.reserveCapacity(1 << 16) }

    func line(_ s: String) {
        self.buffer.append(contentsOf: s.utf8)
        self.buffer.append(10)
        if self.buffer.count >= 1 << 16 { self.flush() }
    }

    func flush() {
        var off = 0
        while off < self.buffer.count {
            let n = self.buffer[off...].withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            off += n
        }
        self.buffer.removeAll(keepingCapacity: true)
    }

    deinit { self.flush() }
}
