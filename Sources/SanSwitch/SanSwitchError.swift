import SanCore

/// Why the switch could not load or use a provider. Environment failures, thrown; the CLI turns
/// them into messages and exit codes.
public enum SanSwitchError: Error, CustomStringConvertible, Equatable, Sendable {
    /// No provider library was found for a short name; `searched` lists the folders tried.
    case providerNotFound(name: String, searched: [String])
    /// dlopen failed.
    case loadFailed(path: String, reason: String)
    /// The library exports no `WSPStartupEx`.
    case noEntryPoint(path: String)
    /// `WSPStartupEx` returned an error.
    case startupFailed(path: String, error: WSAError)
    /// A required proc-table slot is NULL.
    case missingFunction(path: String, function: String)
    /// A required extension could not be fetched through WSPIoctl.
    case missingExtension(path: String, function: String, error: WSAError)
    /// A call failed with a WSA error.
    case call(function: String, error: WSAError)
    /// Waiting for a completion or a network event took longer than allowed.
    case timedOut(what: String)
    /// A socket address could not be parsed.
    case badAddress(String)

    public var description: String {
        switch self {
        case .providerNotFound(let name, let searched):
            return "no SAN provider named '\(name)' (looked for libsan_\(name).so in: \(searched.joined(separator: ", ")))"
        case .loadFailed(let path, let reason): return "cannot load provider \(path): \(reason)"
        case .noEntryPoint(let path): return "\(path) is not a SAN provider: it exports no WSPStartupEx"
        case .startupFailed(let path, let error): return "WSPStartupEx of \(path) failed: \(error)"
        case .missingFunction(let path, let function):
            return "provider \(path) lacks the required function \(function) (its proc-table slot is NULL)"
        case .missingExtension(let path, let function, let error):
            return "provider \(path) lacks the required extension \(function): WSPIoctl answered \(error)"
        case .call(let function, let error): return "\(function) failed: \(error)"
        case .timedOut(let what): return "timed out waiting for \(what)"
        case .badAddress(let s): return "not a socket address: '\(s)' (expected HOST:PORT, [IPv6]:PORT)"
        }
    }

    /// The WSA error, when the failure was a call that reported one.
    public var wsaError: WSAError? {
        switch self {
        case .call(_, let e), .startupFailed(_, let e), .missingExtension(_, _, let e): return e
        default: return nil
        }
    }
}
