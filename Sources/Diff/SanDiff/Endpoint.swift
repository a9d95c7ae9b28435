import SanTraceFormat
import SanTraceStore

/// One recorded process of a run (one trace of a trace set) and what identifies it across runs.
///
/// **Matching rule** (Docs/Analysis.md §1.1): two traces are the same endpoint when they have the
/// same *program* (the base name of the recorded process's argv[0]) and the same *role*:
/// `listener` (it called WSPListen or WSPAccept), `connector` (it called WSPConnect),
/// `listener+connector` (both) or `local` (neither). Several traces with the same program and
/// role (forked children, several clients) are paired in the order they started
/// (`meta.started_realtime_ns`, then pid, then file name). Traces left over are then paired by
/// role alone, in the same order (a replay runs under another program name). Two single traces
/// are always paired with each other.
public struct Endpoint: Sendable, Equatable {
    public enum Role: String, Sendable {
        case listener
        case connector
        case both = "listener+connector"
        case local
    }

    public var path: String
    public var program: String
    public var role: Role
    public var pid: Int64
    public var startedNs: Int64
    public var events: UInt64

    /// `program/role`, the name used in reports.
    public var name: String { "\(self.program)/\(self.role.rawValue)" }

    public init(path: String, program: String, role: Role, pid: Int64, startedNs: Int64, events: UInt64) {
        self.path = path
        self.program = program
        self.role = role
        self.pid = pid
        self.startedNs = startedNs
        self.events = events
    }

    /// Reads what identifies the trace at `path` (metadata and the function summary; no events).
    public static func read(_ path: String) throws -> Endpoint {
        let reader = try TraceReader(path: path)
        let db = try SQLiteConnection(path: path, readOnly: true)
        var listens = false, connects = false
        let q = try db.prepare("SELECT DISTINCT function FROM function_summary WHERE kind = 1 AND function IN (0, 7, 18)")
        while try q.step() {
            switch q.int(0) {
            case Int64(FunctionID.WSPConnect.rawValue): connects = true
            default: listens = true
            }
        }
        let role: Role = listens ? (connects ? .both : .listener) : (connects ? .connector : .local)
        let argv0 = reader.argv.first ?? ""
        let program = argv0.split(separator: "/").last.map(String.init) ?? (argv0.isEmpty ? "?" : argv0)
        return Endpoint(path: path, program: program, role: role,
                        pid: reader.meta["pid"].flatMap { Int64($0) } ?? 0,
                        startedNs: reader.meta["started_realtime_ns"].flatMap { Int64($0) } ?? 0,
                        events: reader.eventCount)
    }
}

/// The endpoints of two runs, paired by the matching rule of ``Endpoint``.
public struct EndpointPairing: Sendable {
    public var pairs: [(a: Endpoint, b: Endpoint)]
    /// Endpoints of A with no counterpart in B, and the other way round.
    public var onlyA: [Endpoint]
    public var onlyB: [Endpoint]

    public static func match(_ a: [Endpoint], _ b: [Endpoint]) -> EndpointPairing {
        if a.count == 1 && b.count == 1 { return EndpointPairing(pairs: [(a[0], b[0])], onlyA: [], onlyB: []) }
        func groups(_ list: [Endpoint], _ key: (Endpoint) -> String) -> [String: [Endpoint]] {
            var g: [String: [Endpoint]] = [:]
            for e in list { g[key(e), default: []].append(e) }
            for k in g.keys {
                g[k]!.sort { ($0.startedNs, $0.pid, $0.path) < ($1.startedNs, $1.pid, $1.path) }
            }
            return g
        }
        var out = EndpointPairing(pairs: [], onlyA: [], onlyB: [])
        var restA = a, restB = b
        // By program and role, then by role.
        for key in [{ (e: Endpoint) in e.name }, { (e: Endpoint) in e.role.rawValue }] {
            guard !restA.isEmpty && !restB.isEmpty else { break }
            let ga = groups(restA, key), gb = groups(restB, key)
            restA = []
            restB = []
            for name in Set(ga.keys).union(gb.keys).sorted() {
                let la = ga[name] ?? [], lb = gb[name] ?? []
                for i in 0..<max(la.count, lb.count) {
                    switch (i < la.count, i < lb.count) {
                    case (true, true): out.pairs.append((la[i], lb[i]))
                    case (true, false): restA.append(la[i])
                    case (false, true): restB.append(lb[i])
                    default: break
                    }
                }
            }
        }
        out.onlyA = restA
        out.onlyB = restB
        return out
    }
}
