/// One semantic difference between two runs.
public struct Divergence: Sendable {
    public enum Kind: String, Sendable, CaseIterable, Comparable {
        /// An endpoint of A with no counterpart in B, and the other way round.
        case missingEndpoint = "missing_endpoint"
        case extraEndpoint = "extra_endpoint"
        /// A call of A that B does not make (aligned per thread), and the other way round.
        case missingCall = "missing_call"
        case extraCall = "extra_call"
        /// Return value or error of an aligned call, or status of its completion.
        case status
        /// Bytes asked for or moved (call or completion).
        case bytes
        /// Payload checksums (both traces recorded with `SANTRACE_PAYLOAD=hash`, or both `full`).
        case payload
        /// Any other argument or result (flags, offsets, lengths, which registration, …).
        case arguments
        /// An operation that completed in A but not in B, and the other way round.
        case missingCompletion = "missing_completion"
        case extraCompletion = "extra_completion"
        /// Operations of one function on one socket completed in another order.
        case completionOrder = "completion_order"

        public static func < (a: Kind, b: Kind) -> Bool {
            Self.allCases.firstIndex(of: a)! < Self.allCases.firstIndex(of: b)!
        }
    }

    public var kind: Kind
    /// The endpoint (`program/role`).
    public var endpoint: String
    /// Index of the endpoint pair in the diff (orders divergences of a trace set).
    public var endpointIndex: Int
    /// Thread rank (1 = the first thread that made a call); 0 for endpoint-level differences.
    public var thread: Int
    /// Function of the call (`lookup` for an extension look-up).
    public var function: String
    /// Global sequence of the event in A / B (the call's ENTER, or the completion), when it has one.
    public var seqA: UInt64?
    public var seqB: UInt64?
    /// Thread capture ids in A / B (for reading the context).
    public var threadA: UInt32?
    public var threadB: UInt32?
    /// What A and B have.
    public var a: String
    public var b: String

    /// Where the divergence sits in A's order (for an extra call: the A call it precedes).
    var orderKey: UInt64
}

/// A few events around the first divergence, formatted like `sanreplay dump`.
public struct DivergenceContext: Sendable {
    public var a: [String]
    public var b: [String]
}

/// The semantic half of a diff.
public struct SemanticReport: Sendable {
    public var counts: [Divergence.Kind: UInt64] = [:]
    /// The first divergences in A's order (endpoint by endpoint), at most ``DiffOptions/maxDetails``.
    public var details: [Divergence] = []
    public var first: Divergence? { self.details.first }
    public var firstContext: DivergenceContext?
    /// Aligned calls and linked completions compared.
    public var callsCompared: UInt64 = 0
    public var completionsCompared: UInt64 = 0
    /// Differences that are not divergences: upcall counts, unlinked completions, alignments given up.
    public var notes: [String] = []

    public var total: UInt64 { self.counts.values.reduce(0, +) }
    public var isEqual: Bool { self.total == 0 }
}
