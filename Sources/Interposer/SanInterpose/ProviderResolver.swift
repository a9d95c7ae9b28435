import CSanABI
import CSanTrace
import Glibc

/// Finds the real provider's WSPStartupEx.
///
/// Layered mode (SANTRACE_PROVIDER set, as SanSwitch does for SAN_LAYER): a path, or a short
/// name `NAME` resolved to `libsan_NAME.so` in the folder of libsantrace.so itself, then `../lib`
/// from there, then the folders of SAN_PROVIDER_PATH. Preload mode (LD_PRELOAD over a program
/// linked with a provider): `dlsym(RTLD_NEXT, "WSPStartupEx")`.
public enum ProviderResolver {
    public enum Mode: String, Sendable { case layered, preload }

    public struct Resolved: @unchecked Sendable {
        public let mode: Mode
        /// The provider library's path as the loader knows it.
        public let path: String
        public let startup: LPWSPSTARTUPEX
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// The path of the object holding libsantrace.so's code (dladdr on a C function of it).
    public static var ownPath: String? { csan_trace_self_path().map { String(cString: $0) } }

    public static func resolve(provider: String?, providerPath: String? = TraceConfig.getenvString("SAN_PROVIDER_PATH"))
        throws(Failure) -> Resolved
    {
        if let provider {
            let path = try self.locate(provider, providerPath: providerPath)
            guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
                throw Failure(description: "cannot load \(path): \(String(cString: dlerror()))")
            }
            guard let sym = dlsym(handle, WSPSTARTUPEX_SYMBOL) else {
                throw Failure(description: "\(path) exports no WSPStartupEx")
            }
            return try self.checked(.layered, sym)
        }
        // RTLD_NEXT is ((void *)-1): the next object after libsantrace.so in the search order.
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: -1), WSPSTARTUPEX_SYMBOL) else {
            throw Failure(description: "no SANTRACE_PROVIDER and no WSPStartupEx after libsantrace.so "
                + "(preload mode needs a program linked with a provider)")
        }
        return try self.checked(.preload, sym)
    }

    /// Refuses to wrap ourselves (SANTRACE_PROVIDER naming libsantrace.so, or a preload with no
    /// provider behind it): that would recurse forever.
    private static func checked(_ mode: Mode, _ sym: UnsafeMutableRawPointer) throws(Failure) -> Resolved {
        let path = csan_object_path(sym).map { String(cString: $0) } ?? "?"
        if let own = self.ownPath, self.sameFile(own, path) {
            throw Failure(description: "the provider resolves to libsantrace.so itself (\(path))")
        }
        return Resolved(mode: mode, path: path, startup: unsafeBitCast(sym, to: LPWSPSTARTUPEX.self))
    }

    /// A path (anything with a slash or ending in .so) is used as given; a short name is searched.
    public static func locate(_ name: String, providerPath: String?) throws(Failure) -> String {
        if name.contains("/") || name.hasSuffix(".so") {
            guard access(name, R_OK) == 0 else { throw Failure(description: "SANTRACE_PROVIDER=\(name): no such file") }
            return name
        }
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
            throw Failure(description: "SANTRACE_PROVIDER=\(name): expected a path or a short name like tcp")
        }
        let file = "libsan_\(name).so"
        var folders: [String] = []
        if let own = self.ownPath, let slash = own.lastIndex(of: "/") {
            let dir = String(own[..<slash])
            folders += [dir, dir + "/../lib"]
        }
        folders += (providerPath ?? "").split(separator: ":").map(String.init)
        for dir in folders where access(dir + "/" + file, R_OK) == 0 { return dir + "/" + file }
        throw Failure(description: "SANTRACE_PROVIDER=\(name): \(file) not found in \(folders.joined(separator: ", "))")
    }

    static func sameFile(_ a: String, _ b: String) -> Bool {
        var sa = stat(), sb = stat()
        guard stat(a, &sa) == 0, stat(b, &sb) == 0 else { return a == b }
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
    }
}
