#if canImport(Glibc)
import Glibc
#endif

/// Finds a provider library from a short name (`tcp`, `null`, `verbs`) or a path.
///
/// A name containing `/` or ending in `.so` is a path. Otherwise `libsan_NAME.so` is looked up in
/// the folders of `SAN_PROVIDER_PATH` (colon-separated), then next to the running executable,
/// then in `../lib` from it (the `tools/build` install layout). `SAN_PROVIDER` names the provider
/// used when the caller does not choose one (default `tcp`).
public enum ProviderLocator {
    /// The provider name used when none is given: `$SAN_PROVIDER` or `tcp`.
    public static var defaultName: String { Self.environment("SAN_PROVIDER") ?? "tcp" }

    /// The folders searched for short names, in order.
    public static var searchPath: [String] { Self.searchPath() }

    /// The folders searched for short names: `providerPath` (colon-separated, `SAN_PROVIDER_PATH`
    /// by default), then `executableDirectory` and `../lib` from it.
    public static func searchPath(executableDirectory: String = Self.executableDirectory,
                                  providerPath: String? = Self.environment("SAN_PROVIDER_PATH")) -> [String] {
        (providerPath ?? "").split(separator: ":").map(String.init).filter { !$0.isEmpty }
            + [executableDirectory, executableDirectory + "/../lib"]
    }

    /// The absolute path of the first readable `file` in `folders`, nil when none has it.
    public static func locate(_ file: String, in folders: [String]) -> String? {
        folders.first { access($0 + "/" + file, R_OK) == 0 }.map { Self.absolute($0 + "/" + file) }
    }

    /// Resolves a name or path to an existing library path.
    public static func resolve(_ nameOrPath: String) throws(SanSwitchError) -> String {
        if nameOrPath.contains("/") || nameOrPath.hasSuffix(".so") {
            guard access(nameOrPath, R_OK) == 0 else {
                throw .loadFailed(path: nameOrPath, reason: String(cString: strerror(errno)))
            }
            return Self.absolute(nameOrPath)
        }
        let folders = Self.searchPath
        guard let path = Self.locate("libsan_\(nameOrPath).so", in: folders) else {
            throw .providerNotFound(name: nameOrPath, searched: folders)
        }
        return path
    }

    /// The folder of the running executable (from /proc/self/exe).
    public static var executableDirectory: String {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        guard n > 0 else { return "." }
        let path = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return String(path[..<slash])
    }

    /// `path` resolved by realpath(3), unchanged when that fails.
    public static func absolute(_ path: String) -> String {
        guard let real = realpath(path, nil) else { return path }
        defer { free(real) }
        return String(cString: real)
    }

    /// An environment variable, nil when unset or empty.
    public static func environment(_ name: String) -> String? {
        guard let v = getenv(name) else { return nil }
        let s = String(cString: v)
        return s.isEmpty ? nil : s
    }
}
