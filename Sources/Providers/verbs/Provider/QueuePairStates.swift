/// The RC queue pair's state machine as a pure function: which `ibv_modify_qp` attributes and
/// mask each step needs (InfiniBand spec, table "QP state transition properties"; the values the
/// reference §5.2 suggests). `VerbsResources` only copies the result into a `struct ibv_qp_attr`.

/// `enum ibv_qp_state` (the raw values are libibverbs' ABI; a test checks them).
public enum VerbsQueuePairState: UInt32, Sendable, CustomStringConvertible {
    case reset = 0, initialized = 1, readyToReceive = 2, readyToSend = 3, error = 6

    public var description: String {
        switch self {
        case .reset: return "RESET"
        case .initialized: return "INIT"
        case .readyToReceive: return "RTR"
        case .readyToSend: return "RTS"
        case .error: return "ERR"
        }
    }
}

/// `enum ibv_qp_attr_mask` bits this provider sets.
public struct VerbsQueuePairAttributeMask: OptionSet, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let state = Self(rawValue: 1 << 0)
    public static let accessFlags = Self(rawValue: 1 << 3)
    public static let pkeyIndex = Self(rawValue: 1 << 4)
    public static let port = Self(rawValue: 1 << 5)
    public static let addressVector = Self(rawValue: 1 << 7)
    public static let pathMTU = Self(rawValue: 1 << 8)
    public static let timeout = Self(rawValue: 1 << 9)
    public static let retryCount = Self(rawValue: 1 << 10)
    public static let rnrRetry = Self(rawValue: 1 << 11)
    public static let receivePSN = Self(rawValue: 1 << 12)
    public static let maxReadAtomic = Self(rawValue: 1 << 13)
    public static let minRNRTimer = Self(rawValue: 1 << 15)
    public static let sendPSN = Self(rawValue: 1 << 16)
    public static let maxDestReadAtomic = Self(rawValue: 1 << 17)
    public static let destQueuePair = Self(rawValue: 1 << 20)
}

/// The address vector of the path to the peer (`struct ibv_ah_attr`).
public struct VerbsAddressVector: Equatable, Sendable {
    public var destinationLID: UInt16
    public var serviceLevel: UInt8 = 0
    public var portNumber: UInt8
    /// True when packets carry a global route header: always on RoCE (Ethernet has no LIDs), and
    /// on InfiniBand when the peer has no LID.
    public var isGlobal: Bool
    public var destinationGID: [UInt8]
    public var sourceGIDIndex: UInt8
    public var hopLimit: UInt8
}

/// Everything one `ibv_modify_qp` call sets; fields outside `mask` are zero.
public struct VerbsQueuePairAttributes: Equatable, Sendable {
    public var state: VerbsQueuePairState
    public var mask: VerbsQueuePairAttributeMask = [.state]
    public var pkeyIndex: UInt16 = 0
    public var portNumber: UInt8 = 0
    public var access: VerbsAccess = []
    public var pathMTU: UInt8 = 0
    public var destQueuePair: UInt32 = 0
    public var receivePSN: UInt32 = 0
    public var maxDestReadAtomic: UInt8 = 0
    public var minRNRTimer: UInt8 = 0
    public var addressVector: VerbsAddressVector?
    public var timeout: UInt8 = 0
    public var retryCount: UInt8 = 0
    public var rnrRetry: UInt8 = 0
    public var sendPSN: UInt32 = 0
    public var maxReadAtomic: UInt8 = 0

    init(state: VerbsQueuePairState) { self.state = state }
}

/// This side's part of a connection: where its QP lives and what it announced.
public struct VerbsLocalPath: Equatable, Sendable {
    public var portNumber: UInt8
    public var gidIndex: UInt8
    public var endpoint: VerbsEndpoint

    public init(portNumber: UInt8, gidIndex: UInt8, endpoint: VerbsEndpoint) {
        self.portNumber = portNumber
        self.gidIndex = gidIndex
        self.endpoint = endpoint
    }
}

/// The tuning the reference suggests (§5.2, from IBSP's ibspdefines.h).
public enum VerbsQueuePairTuning {
    /// 7 = retry forever on "receiver not ready": a send that arrives before the peer posted its
    /// receive waits instead of failing the connection (the early-receive rule of §4.2).
    public static let rnrRetry: UInt8 = 7
    /// The RNR NAK timer IBSP uses (encoded; 8 = 0.16 ms).
    public static let minRNRTimer: UInt8 = 8
    /// Transport retries before a send fails with RETRY_EXC_ERR.
    public static let retryCount: UInt8 = 7
    /// Local ACK timeout, 4.096 µs · 2^14 ≈ 67 ms.
    public static let timeout: UInt8 = 14
    /// Initiator depth and responder resources (outstanding RDMA reads), before device limits.
    public static let readDepth: UInt8 = 4
    public static let hopLimit: UInt8 = 64
}

public enum VerbsQueuePairTransitionError: Error, Equatable, Sendable {
    /// The IB state machine has no such edge (e.g. RESET → RTS).
    case illegal(from: VerbsQueuePairState, to: VerbsQueuePairState)
    /// INIT → RTR needs the peer's endpoint.
    case missingPeer
    /// The peer announced a different link layer: no path can exist.
    case linkLayerMismatch
}

public enum VerbsQueuePairTransitions {
    /// The attributes of the step `from` → `to` for an RC queue pair.
    public static func attributes(from: VerbsQueuePairState, to: VerbsQueuePairState, local: VerbsLocalPath,
                                  peer: VerbsEndpoint?) -> Result<VerbsQueuePairAttributes, VerbsQueuePairTransitionError> {
        var a = VerbsQueuePairAttributes(state: to)
        switch (from, to) {
        case (_, .error), (_, .reset):
            return .success(a)
        case (.reset, .initialized):
            a.mask.formUnion([.pkeyIndex, .port, .accessFlags])
            a.portNumber = local.portNumber
            a.access = VerbsAccessMapping.queuePair
            return .success(a)
        case (.initialized, .readyToReceive):
            guard let peer else { return .failure(.missingPeer) }
            guard peer.linkLayer == local.endpoint.linkLayer else { return .failure(.linkLayerMismatch) }
            a.mask.formUnion([.addressVector, .pathMTU, .destQueuePair, .receivePSN, .maxDestReadAtomic, .minRNRTimer])
            a.pathMTU = min(local.endpoint.mtu, peer.mtu)
            a.destQueuePair = peer.queuePairNumber
            a.receivePSN = peer.packetSequenceNumber
            // Reads this side serves at once: what it announced (the peer keeps within it).
            a.maxDestReadAtomic = local.endpoint.responderResources
            a.minRNRTimer = VerbsQueuePairTuning.minRNRTimer
            a.addressVector = VerbsAddressVector(
                destinationLID: peer.lid, portNumber: local.portNumber,
                isGlobal: local.endpoint.linkLayer == .ethernet || peer.lid == 0,
                destinationGID: peer.gid, sourceGIDIndex: local.gidIndex, hopLimit: VerbsQueuePairTuning.hopLimit)
            return .success(a)
        case (.readyToReceive, .readyToSend):
            guard let peer else { return .failure(.missingPeer) }
            a.mask.formUnion([.timeout, .retryCount, .rnrRetry, .sendPSN, .maxReadAtomic])
            a.timeout = VerbsQueuePairTuning.timeout
            a.retryCount = VerbsQueuePairTuning.retryCount
            a.rnrRetry = VerbsQueuePairTuning.rnrRetry
            a.sendPSN = local.endpoint.packetSequenceNumber
            // Reads this side issues at once: never more than the peer can serve.
            a.maxReadAtomic = min(local.endpoint.initiatorDepth, peer.responderResources)
            return .success(a)
        default:
            return .failure(.illegal(from: from, to: to))
        }
    }

    /// The steps from RESET to RTS, in order.
    public static let connectPath: [(VerbsQueuePairState, VerbsQueuePairState)] = [
        (.reset, .initialized), (.initialized, .readyToReceive), (.readyToReceive, .readyToSend),
    ]
}
