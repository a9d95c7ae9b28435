#if canImport(Glibc)
import Glibc
#endif
import SanSwitch

/// Where `sanreplay record` finds libsantrace.so and the providers without configuration: the
/// interposer next to its own executable (`swift build` puts everything in .build/debug), then in
/// `../lib` from it (`tools/build` installs into .build/install/{bin,lib}); providers exactly as
/// the switch finds them (``ProviderLocator``), so a recording loads what an untraced run would.
public enum RecordProducts {
    /// The interposer's file name.
    public static let interposerName = "libsantrace.so"

    /// The interposer's absolute path.
    public static func interposer(executableDirectory: String = ProviderLocator.executableDirectory) throws(RecordError) -> String {
        let folders = [executableDirectory, executableDirectory + "/../lib"]
        guard let path = ProviderLocator.locate(self.interposerName, in: folders) else {
            throw .notFound("\(self.interposerName) not found in \(folders.map(ProviderLocator.absolute).joined(separator: ", "))")
        }
        return path
    }

    /// A provider given as a path (anything with a `/` or ending in `.so`) or a short name
    /// (`tcp` → `libsan_tcp.so` in the switch's search path), made absolute.
    public static func provider(_ nameOrPath: String, executableDirectory: String = ProviderLocator.executableDirectory,
                                providerPath: String? = ProviderLocator.environment("SAN_PROVIDER_PATH")) throws(RecordError) -> String {
        if nameOrPath.contains("/") || nameOrPath.hasSuffix(".so") {
            guard access(nameOrPath, R_OK) == 0 else { throw .notFound("--provider \(nameOrPath): no such file") }
            return ProviderLocator.absolute(nameOrPath)
        }
        guard !nameOrPath.isEmpty, nameOrPath.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
            throw .usage("--provider \(nameOrPath): expected a path or a short name like tcp")
        }
        let file = "libsan_\(nameOrPath).so"
        let folders = ProviderLocator.searchPath(executableDirectory: executableDirectory, providerPath: providerPath)
        guard let path = ProviderLocator.locate(file, in: folders) else {
            throw .notFound("\(file) not found in \(folders.map(ProviderLocator.absolute).joined(separator: ", "))")
        }
        return path
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
