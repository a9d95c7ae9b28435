import SanTraceFormat

#if canImport(Glibc)
import Glibc
#endif

/// A trace set: a folder of `.santrace` files from one recorded run.
public enum TraceSet {
    /// The traces a TRACE|DIR argument names: the file itself, or every `*.santrace` in the folder
    /// (sorted). An empty folder or a missing path is a ``TraceFormatError``.
    public static func paths(_ path: String) throws(TraceFormatError) -> [String] {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw TraceFormatError(.notATrace, "cannot open: \(String(cString: strerror(errno)))", file: path)
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { return [path] }
        guard let d = opendir(path) else {
            throw TraceFormatError(.notATrace, "cannot list: \(String(cString: strerror(errno)))", file: path)
        }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasSuffix(".santrace") { names.append(name) }
        }
        guard !names.isEmpty else { throw TraceFormatError(.notATrace, "folder holds no *.santrace traces", file: path) }
        let base = path.hasSuffix("/") ? path : path + "/"
        return names.sorted().map { base + $0 }
    }

    /// True when `path` is a folder.
    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }
}
