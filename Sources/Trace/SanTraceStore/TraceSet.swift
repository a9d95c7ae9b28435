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
        let names = try self.entries(path).filter { $0.hasSuffix(".santrace") }
        guard !names.isEmpty else { throw TraceFormatError(.notATrace, "folder holds no *.santrace traces", file: path) }
        let base = path.hasSuffix("/") ? path : path + "/"
        return names.sorted().map { base + $0 }
    }

    /// The runs a diff argument names: a trace or a trace set is one run; a folder that holds no
    /// traces itself but trace sets in subfolders (`base/run1/`, `base/run2/` …) is one run per
    /// subfolder, in name order. Subfolders without traces are not runs.
    public static func runs(_ path: String) throws(TraceFormatError) -> [String] {
        guard self.isDirectory(path), (try? self.paths(path)) == nil else { return [path] }
        let base = path.hasSuffix("/") ? path : path + "/"
        let runs = try self.entries(path).sorted().map { base + $0 }.filter {
            self.isDirectory($0) && (try? self.paths($0)) != nil
        }
        guard !runs.isEmpty else {
            throw TraceFormatError(.notATrace, "folder holds no *.santrace traces and no subfolders of them (runs)", file: path)
        }
        return runs
    }

    static func entries(_ path: String) throws(TraceFormatError) -> [String] {
        guard let d = opendir(path) else {
            throw TraceFormatError(.notATrace, "cannot list: \(String(cString: strerror(errno)))", file: path)
        }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Creates `dir` and the folders above it that are missing (`mkdir -p`), for the output
    /// folders of `record`, `replay --record` and the interposer. nil when done, else what failed.
    public static func makeFolders(_ dir: String) -> String? {
        var path = dir.hasPrefix("/") ? "" : "."
        for part in dir.split(separator: "/") {
            path += "/" + part
            if mkdir(path, 0o755) != 0 && errno != EEXIST {
                return "cannot create \(path): \(String(cString: strerror(errno)))"
            }
        }
        return nil
    }

    /// True when `path` is a folder.
    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }
}
