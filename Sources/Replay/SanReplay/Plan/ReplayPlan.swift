import SanTraceFormat
import SanTraceStore

/// A trace set compiled for replay: every recorded process as an ``EndpointPlan``, the peers to
/// synthesize, and what the pairing could not resolve. Planning reads every trace of the set,
/// whichever endpoints this process replays: each needs its peers' traces to pair connections and
/// descriptors and to know the bytes it will receive.
public final class ReplayPlan {
    public let traces: [EndpointTrace]
    let pairing: Pairing
    let endpoints: [EndpointPlan]
    let synthetic: [SyntheticPlan]
    public let notes: [String]

    init(traces: [EndpointTrace], pairing: Pairing, endpoints: [EndpointPlan], synthetic: [SyntheticPlan], notes: [String]) {
        self.traces = traces
        self.pairing = pairing
        self.endpoints = endpoints
        self.synthetic = synthetic
        self.notes = notes
    }

    /// Reads and plans a trace or trace set (a folder of `.santrace`).
    public static func build(trace path: String) throws -> ReplayPlan {
        let paths = try TraceSet.paths(path)
        var traces: [EndpointTrace] = []
        for (i, p) in paths.enumerated() { traces.append(try TraceLoader.load(path: p, index: i)) }
        return try Self.build(traces)
    }

    static func build(_ traces: [EndpointTrace]) throws -> ReplayPlan {
        let pairing = Pairing.build(traces)
        var plans: [EndpointPlan] = []
        var facts: [PlanFacts] = []
        for t in traces {
            var planner = try EndpointPlanner(trace: t, pairing: pairing)
            let (plan, f) = planner.build()
            plans.append(plan)
            facts.append(f)
        }
        var linker = DataLinker(plans: plans, facts: facts, pairing: pairing)
        linker.link()
        let synthetic = pairing.synthetic.map { peer in
            SyntheticPlan.build(peer, endpoint: traces.count + peer.index, plan: plans[peer.recorded.endpoint],
                                facts: facts[peer.recorded.endpoint], pairing: pairing)
        }
        var notes = pairing.notes
        for p in plans { notes += p.notes }
        return ReplayPlan(traces: traces, pairing: pairing, endpoints: plans, synthetic: synthetic, notes: notes)
    }

    /// The endpoint a `--endpoint NAME` selects: the trace's file name (without `.santrace`),
    /// a unique prefix of it, or its position in the set.
    public func endpointIndex(named name: String) throws(ReplayError) -> Int {
        if let i = self.traces.firstIndex(where: { $0.name == name }) { return i }
        let prefixed = self.traces.indices.filter { self.traces[$0].name.hasPrefix(name) }
        if prefixed.count == 1 { return prefixed[0] }
        if let i = Int(name), i >= 0, i < self.traces.count { return i }
        let names = self.traces.map(\.name).joined(separator: ", ")
        throw .usage("no endpoint '\(name)' in the trace set (endpoints: \(names); or a position 0…\(self.traces.count - 1))")
    }
}
