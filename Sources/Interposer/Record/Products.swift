#if canImport(Glibc)
import Glibc
#endif

/// Where `sanreplay record` finds libsantrace.so and the providers without configuration: next
/// to its own executable (`swift build` puts everything in .build/debug), then in `../lib` from
/// it (`tools/build` installs into .build/install/{bin,lib}).
public enum RecordProducts {
    /// The interposer's file name.
    public static let interposerName = "libsantrace.so"

    /// The folders searched, in order: the executable's folder, then `../lib`.
    public static func folders(executableDirectory: String = Self.executableDirectory) -> [String] {
        [executableDirectory, executableDirectory + "/../lib"]
    }

    /// The interposer's absolute path.
    public static func interposer(executableDirectory: String = Self.executableDirectory) throws(RecordError) -> String {
        try self.find(self.interposerName, in: self.folders(executableDirectory: executableDirectory))
    }

    /// A provider given as a path (anything with a `/` or ending in `.so`) or a short name
    /// (`tcp` → `libsan_tcp.so` in the same folders, then `SAN_PROVIDER_PATH`), made absolute.
    public static func provider(_ nameOrPath: String, executableDirectory: String = Self.executableDirectory,
                                providerPath: String? = Self.environment("SAN_PROVIDER_PATH")) throws(RecordError) -> String {
        if nameOrPath.contains("/") || nameOrPath.hasSuffix(".so") {
            guard access(nameOrPath, R_OK) == 0 else { throw .notFound("--provider \(nameOrPath): no such file") }
            return Self.absolute(nameOrPath)
        }
        guard !nameOrPath.isEmpty, nameOrPath.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
            throw .usage("--provider \(nameOrPath): expected a path or a short name like tcp")
        }
        var folders = self.folders(executableDirectory: executableDirectory)
        folders += (providerPath ?? "").split(separator: ":").map(String.init)
        return try self.find("libsan_\(nameOrPath).so", in: folders)
    }

    static func find(_ file: String, in folders: [String]) throws(RecordError) -> String {
        for dir in folders where access(dir + "/" + file, R_OK) == 0 { return Self.absolute(dir + "/" + file) }
        throw .notFound("\(file) not found in \(folders.map(Self.absolute).joined(separator: ", "))")
    }

    /// The folder of the running executable (/proc/self/exe).
    public static var executableDirectory: String {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        guard n > 0 else { return "." }
        let path = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return String(path[..<slash])
    }

    static func absolute(_ path: String) -> String {
        guard let real = realpath(path, nil) else { return path }
        defer { free(real) }
        return String(cString: real)
    }

    public static func environment(_ name: String) -> String? {
        guard let v = getenv(name) else { return nil }
        let s = String(cString: v)
        return s.isEmpty ? nil : s
    }
}

/// Why a recording could not be made.
public enum RecordError: Error, CustomStringConvertible, Equatable {
    /// Bad options (exit 64).
    case usage(String)
    /// The interposer, a provider or the command is missing (exit 69).
    case notFound(String)
    /// The command could not be started or waited for (exit 69).
    case launch(String)

    public var description: String {
        switch self {
        case .usage(let s), .notFound(let s), .launch(let s): return s
        }
    }
}
