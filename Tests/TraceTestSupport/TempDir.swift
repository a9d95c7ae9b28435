import Glibc

/// A unique temporary folder per test (tests run in parallel), removed by `cleanup()`.
public struct TempDir: Sendable {
    public let path: String

    public init(_ tag: String = #function) {
        var template = Array("/tmp/santrace-test-XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        self.path = p.map { String(cString: $0) } ?? "/tmp/santrace-test-\(getpid())-\(tag)"
    }

    public func file(_ name: String) -> String { self.path + "/" + name }

    /// Removes the folder and everything in it (folders of runs included).
    public func cleanup() { Self.remove(self.path) }

    static func remove(_ path: String) {
        if let d = opendir(path) {
            var names: [String] = []
            while let e = readdir(d) {
                let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if name != "." && name != ".." { names.append(name) }
            }
            closedir(d)
            // Not a folder: unlink; a folder: emptied, then removed.
            for name in names where unlink(path + "/" + name) != 0 { self.remove(path + "/" + name) }
        }
        rmdir(path)
    }
}

/// The whole file, or [] when it cannot be opened.
public func readFile(_ path: String) -> [UInt8] {
    guard let f = fopen(path, "rb") else { return [] }
    defer { fclose(f) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = fread(&buf, 1, buf.count, f)
        if n <= 0 { break }
        out.append(contentsOf: buf[0..<n])
    }
    return out
}

/// Writes (replaces) the file.
public func writeFile(_ path: String, _ bytes: [UInt8]) {
    guard let f = fopen(path, "wb") else { return }
    _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
    fclose(f)
}
