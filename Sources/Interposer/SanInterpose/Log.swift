import Glibc

/// One line on standard error, prefixed `santrace:` (write(2): no stdio state shared with the
/// traced program).
func santraceLog(_ message: String) {
    var line = Array("santrace: \(message)\n".utf8)
    line.withUnsafeMutableBytes { p in _ = write(2, p.baseAddress, p.count) }
}
