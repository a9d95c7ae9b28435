#if canImport(Glibc)
import Glibc
#endif
import SanCore
import SanSwitch
import SanTestSupport
import Testing

/// The providers under test (Docs/Conformance.md): `SAN_CONFORMANCE_PROVIDER` (a name or a path)
/// when set, else every provider present among `tcp`, `null` and `verbs`.
///
/// Which provider runs which test is decided once, before the tests run, so a provider a test
/// does not apply to is not among its arguments; ``CoverageConformance`` reports those
/// exclusions as skipped tests with the reason (a cancelled test case would print as passed).
enum Conformance {
    static let requested: [String] = {
        if let v = getenv("SAN_CONFORMANCE_PROVIDER"), v.pointee != 0 { return [String(cString: v)] }
        return ["tcp", "null", "verbs"].filter { (try? ProviderLocator.resolve($0)) != nil }
    }()

    private static let loaded: [(String, Result<Subject, SubjectError>)] = Self.requested.map { name in
        (name, Result { () throws(SubjectError) -> Subject in try Subject.make(name) })
    }

    /// Providers that start (or fail to load for another reason, which every test then reports).
    static let providers: [String] = Self.loaded.compactMap { name, r in
        if case .failure(.cannotStart) = r { return nil }
        return name
    }

    /// Providers that are transports by the capability rule: the tests needing data movement or
    /// a real peer run for these only.
    static let transports: [String] = Self.loaded.compactMap { name, r in
        if case .success(let s) = r, !s.isTransport { return nil }
        if case .failure(.cannotStart) = r { return nil }
        return name
    }

    /// Present but cannot start (WSPStartupEx → WSASYSNOTREADY): name → reason.
    static let cannotStart: [String: String] = Dictionary(uniqueKeysWithValues: Self.loaded.compactMap { name, r in
        if case .failure(.cannotStart(let why)) = r { return (name, why) }
        return nil
    })

    /// Started, but not a transport: name → what the probe saw.
    static let notTransports: [String: String] = Dictionary(uniqueKeysWithValues: Self.loaded.compactMap { name, r in
        if case .success(let s) = r, !s.isTransport { return (name, s.probe) }
        return nil
    })

    /// The loaded provider and its capability; throws when it failed to load.
    static func subject(_ name: String) throws -> Subject {
        guard let r = Self.loaded.first(where: { $0.0 == name })?.1 else {
            throw SubjectError.broken(.providerNotFound(name: name, searched: []))
        }
        switch r {
        case .success(let s): return s
        case .failure(let e): throw e
        }
    }
}

enum SubjectError: Error, CustomStringConvertible {
    case cannotStart(String)
    case broken(SanSwitchError)

    var description: String {
        switch self {
        case .cannotStart(let s): return "cannot start: \(s)"
        case .broken(let e): return "\(e)"
        }
    }
}

/// A provider under test.
struct Subject: @unchecked Sendable {
    let name: String
    /// The library under test (the peer process loads this file).
    let path: String
    /// The provider, loaded from a private copy of `path` (see ``make(_:)``).
    let provider: SanProvider
    /// The capability rule's verdict: the provider connects two endpoints and moves bytes.
    let isTransport: Bool
    /// What the probe saw, for skip messages.
    let probe: String

    /// Loads the provider from a private copy of its file, so this suite's switch is the only
    /// one that instance knows: other test targets in the same process may dlopen the same file
    /// and start it with their own upcall table, and a provider keeps one table per instance.
    static func make(_ name: String) throws(SubjectError) -> Subject {
        let path: String
        do { path = try ProviderLocator.resolve(name) } catch { throw .broken(error) }
        let copy = Self.privateCopy(of: path)
        defer { if copy != path { unlink(copy) } }
        let p: SanProvider
        do { p = try SanProvider.load(copy) } catch {
            if case .startupFailed(_, let e) = error, e == .systemNotReady { throw .cannotStart("\(error)") }
            throw .broken(error)
        }
        let (transport, probe) = Self.probeTransport(p)
        return Subject(name: name, path: path, provider: p, isTransport: transport, probe: probe)
    }

    /// `path` copied to a unique file in /tmp (the original when copying fails).
    static func privateCopy(of path: String) -> String {
        let copy = "/tmp/san_conformance_\(getpid())_\(path.split(separator: "/").last ?? "provider")"
        let src = open(path, O_RDONLY)
        let dst = open(copy, O_WRONLY | O_CREAT | O_TRUNC, 0o700)
        defer {
            if src >= 0 { close(src) }
            if dst >= 0 { close(dst) }
        }
        guard src >= 0, dst >= 0 else { return path }
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = read(src, &buf, buf.count)
            if n < 0 { return path }
            if n == 0 { break }
            guard write(dst, buf, n) == n else { return path }
        }
        return copy
    }

    /// The capability rule: on a fresh loopback connection, 16 bytes sent with WSPSend into a
    /// WSPRecv buffer pre-filled with 0xEE. The provider is *not* a transport only when the
    /// receive completes successfully and the buffer is still all 0xEE (it moved nothing, as
    /// null does). Any other outcome, including errors, counts as a transport, so a broken
    /// transport fails the data tests instead of being skipped.
    static func probeTransport(_ p: SanProvider) -> (Bool, String) {
        do {
            let pair = try Pair(p)
            defer { pair.close() }
            let mem = Memory(64, fill: 0xEE)
            defer { mem.free() }
            let sreg = try pair.server.register(mem.slice(0, 32), access: .write)
            let creg = try pair.client.register(mem.slice(32, 32), access: .read)
            let pattern: [UInt8] = Array(0..<16)
            mem.slice(32, 16).copyBytes(from: pattern)
            let r = SanOperation(), s = SanOperation()
            try pair.server.recv([sreg.buffer(length: 16)], operation: r)
            try pair.client.send([creg.buffer(length: 16)], operation: s)
            let rc = try r.wait(timeoutNanoseconds: 5_000_000_000)
            _ = try? s.wait(timeoutNanoseconds: 5_000_000_000)
            let got = Array(mem.slice(0, 16))
            if rc.error == nil && got.allSatisfy({ $0 == 0xEE }) {
                return (false, "WSPRecv completed with \(rc.bytes) bytes but the buffer is untouched")
            }
            return (true, got == pattern ? "16 bytes delivered" : "receive: \(rc), bytes \(got)")
        } catch {
            return (true, "probe failed: \(error)")
        }
    }
}
