#if canImport(Glibc)
import Glibc
#endif
import SanPerf

/// Prints the report on stdout: the table, or one JSON object.
func printReport(_ report: PerfReport, json: Bool) {
    print(json ? report.json : report.text)
}

/// A line on stderr (progress notes and errors; stdout stays the report).
func printToStderr(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

/// Exit codes (documented in the command's discussion): 1 the run failed, 64 bad input found
/// after parsing (a size the provider cannot take), 69 the provider cannot be loaded or started.
func sanperfExitCode(for error: PerfError) -> Int32 {
    switch error {
    case .badInput: return 64
    case .provider: return 69
    case .failed: return 1
    }
}
