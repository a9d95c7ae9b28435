import SanTraceFormat

/// A socket of one endpoint: (endpoint index, socket capture id).
struct SocketKey: Hashable {
    var endpoint: Int
    var socket: UInt64
}

/// A descriptor of one endpoint: (endpoint index, descriptor capture id).
struct DescriptorKey: Hashable {
    var endpoint: Int
    var descriptor: UInt64
}

/// Who is at the other end of a recorded connection.
enum PeerRef: Equatable {
    case socket(SocketKey)
    /// A peer synthesized from this trace (index into ``Pairing/synthetic``).
    case synthetic(Int)
}

/// How a connecting socket finds its listener at replay time.
struct ConnectTarget {
    /// Coordinator key holding the live listener address.
    var listenKey: String
    /// Coordinator key to wait for first (the previous connection to the same listener was
    /// accepted), so accepts pair with connects in recorded order; nil for the first.
    var afterKey: String?
}

/// A peer the trace set lacks, synthesized from the side that was recorded.
struct SyntheticPeer {
    var index: Int
    /// The recorded side of the connection.
    var recorded: SocketKey
    /// The recorded side connected (the peer listens) or accepted (the peer connects).
    var recordedConnected: Bool
    /// The listener key the peer publishes (recorded side connected) or connects to (it accepted).
    var listenKey: String
    /// The recorded accepting socket's listener, when the recorded side accepted.
    var acceptOrder: String?
    /// Descriptors of the peer the recorded side used: recorded descriptor id → region number.
    var regions: [UInt64: Int] = [:]
}

/// The pairing of a trace set: connections (connect target ↔ the listener bound to that address,
/// then the accepts in order, or by the accepted peer address), RDMA descriptors (by their bytes:
/// what one side's WSPRegisterRdmaMemory returned is the other side's RdmaWrite/RdmaRead target),
/// and the peers to synthesize where the set has only one side.
struct Pairing {
    var peers: [SocketKey: PeerRef] = [:]
    /// WSPConnect call (endpoint, call index) → target.
    var connects: [Int: [Int32: ConnectTarget]] = [:]
    /// Listener sockets: (endpoint, socket) → key.
    var listenKeys: [SocketKey: String] = [:]
    /// Accept calls (endpoint, call index) → the key published after it (accept order).
    var acceptKeys: [Int: [Int32: String]] = [:]
    /// RDMA targets: (endpoint, descriptor id used) → where it was registered.
    var descriptors: [DescriptorKey: DescriptorSource] = [:]
    var synthetic: [SyntheticPeer] = []
    /// Problems found (unpaired descriptors …), reported with the replay.
    var notes: [String] = []

    enum DescriptorSource: Equatable {
        /// Registered by an endpoint of the set (possibly the user itself).
        case registered(DescriptorKey)
        /// A region the synthetic peer exposes.
        case synthetic(peer: Int, region: Int)
        case unknown
    }

    static func listenKey(_ k: SocketKey) -> String { "listen/\(k.endpoint)/\(k.socket)" }
    static func descriptorKey(_ k: DescriptorKey) -> String { "desc/\(k.endpoint)/\(k.descriptor)" }
    static func syntheticListenKey(_ i: Int) -> String { "listen/synthetic/\(i)" }
    static func syntheticRegionKey(_ peer: Int, _ region: Int) -> String { "desc/synthetic/\(peer)/\(region)" }
    static func doneKey(_ endpoint: Int) -> String { "done/\(endpoint)" }

    func peer(_ k: SocketKey) -> PeerRef? { self.peers[k] }

    static func build(_ set: [EndpointTrace]) -> Pairing {
        var p = Pairing()
        let facts = set.map { SocketFacts($0) }
        p.pairConnections(set, facts)
        p.pairDescriptors(set, facts)
        return p
    }

    // MARK: Connections

    private mutating func pairConnections(_ set: [EndpointTrace], _ facts: [SocketFacts]) {
        // Listeners and their recorded addresses.
        var listeners: [(SocketKey, [RecordedAddress])] = []
        for (e, f) in facts.enumerated() {
            for s in f.listening {
                let key = SocketKey(endpoint: e, socket: s)
                listeners.append((key, f.addresses[s] ?? []))
                self.listenKeys[key] = Self.listenKey(key)
            }
        }
        // Each connect finds its listener.
        var byListener: [SocketKey: [(connector: SocketKey, call: Int32, time: Int64, local: RecordedAddress?)]] = [:]
        for (e, f) in facts.enumerated() {
            for c in f.connects {
                guard let target = c.target else { continue }
                let candidates = listeners.filter { $0.1.contains { $0.accepts(target) } }
                let exact = candidates.first { $0.1.contains { $0.ip == target.ip && $0.port == target.port } }
                let other = candidates.first { $0.0.endpoint != e }
                let connector = SocketKey(endpoint: e, socket: c.socket)
                if let l = exact ?? other ?? candidates.first {
                    byListener[l.0, default: []].append((connector, c.call, set[e].realtime(set[e].calls[Int(c.call)].enterTSC),
                                                         f.addresses[c.socket]?.first))
                } else if c.succeeded {
                    let i = self.synthetic.count
                    self.synthetic.append(SyntheticPeer(index: i, recorded: connector, recordedConnected: true,
                                                        listenKey: Self.syntheticListenKey(i)))
                    self.peers[connector] = .synthetic(i)
                    self.connects[e, default: [:]][c.call] = ConnectTarget(listenKey: Self.syntheticListenKey(i))
                } else {
                    self.notes.append("\(set[e].name): WSPConnect to \(target) (failed when recorded) has no listener in the trace set")
                }
            }
        }
        // Accepts pair with connects: by the accepted peer address when the connector's own
        // address is known, else in order (connect time ↔ accept order).
        for (e, f) in facts.enumerated() {
            for (listener, accepts) in f.accepts {
                let lkey = SocketKey(endpoint: e, socket: listener)
                var connectors = (byListener[lkey] ?? []).sorted { $0.time < $1.time }
                for (k, a) in accepts.enumerated() {
                    let accepted = SocketKey(endpoint: e, socket: a.socket)
                    let acceptKey = "accept/\(e)/\(listener)/\(k)"
                    self.acceptKeys[e, default: [:]][a.call] = acceptKey
                    var pick: Int?
                    if let peer = a.peer { pick = connectors.firstIndex { $0.local == peer } }
                    if pick == nil, !connectors.isEmpty { pick = connectors.firstIndex { $0.local == nil } ?? 0 }
                    if let i = pick {
                        let c = connectors.remove(at: i)
                        self.peers[accepted] = .socket(c.connector)
                        self.peers[c.connector] = .socket(accepted)
                        self.connects[c.connector.endpoint, default: [:]][c.call] =
                            ConnectTarget(listenKey: Self.listenKey(lkey), afterKey: k > 0 ? "accept/\(e)/\(listener)/\(k - 1)" : nil)
                    } else {
                        let i = self.synthetic.count
                        self.synthetic.append(SyntheticPeer(index: i, recorded: accepted, recordedConnected: false,
                                                            listenKey: Self.listenKey(lkey),
                                                            acceptOrder: k > 0 ? "accept/\(e)/\(listener)/\(k - 1)" : nil))
                        self.peers[accepted] = .synthetic(i)
                    }
                }
                // Connects that no recorded accept took still reach the live listener.
                for c in connectors {
                    self.connects[c.connector.endpoint, default: [:]][c.call] = ConnectTarget(listenKey: Self.listenKey(lkey))
                }
            }
        }
        for (lkey, connectors) in byListener where facts[lkey.endpoint].accepts[lkey.socket] == nil {
            for c in connectors {
                self.connects[c.connector.endpoint, default: [:]][c.call] = ConnectTarget(listenKey: Self.listenKey(lkey))
            }
        }
    }

    // MARK: Descriptors

    private mutating func pairDescriptors(_ set: [EndpointTrace], _ facts: [SocketFacts]) {
        var byBytes: [[UInt8]: DescriptorKey] = [:]
        for (e, f) in facts.enumerated() {
            for (d, _) in f.registeredDescriptors {
                if let b = set[e].descriptorBytes[d] { byBytes[b] = DescriptorKey(endpoint: e, descriptor: d) }
            }
        }
        for (e, f) in facts.enumerated() {
            for use in f.rdmaTargets {
                let key = DescriptorKey(endpoint: e, descriptor: use.descriptor)
                if self.descriptors[key] != nil { continue }
                if f.registeredDescriptors[use.descriptor] != nil {
                    self.descriptors[key] = .registered(key)
                } else if let b = set[e].descriptorBytes[use.descriptor], let owner = byBytes[b] {
                    self.descriptors[key] = .registered(owner)
                } else if let peer = self.peers[SocketKey(endpoint: e, socket: use.socket)] {
                    self.descriptors[key] = self.fallback(peer, use, set, facts, from: e)
                } else {
                    self.descriptors[key] = .unknown
                    self.notes.append("\(set[e].name): RDMA target descriptor #\(use.descriptor) matches no registration in the trace set")
                }
            }
        }
    }

    /// Without the descriptor's bytes: the registration on the peer socket made last before the
    /// first use (wall clock), or a region of the synthetic peer.
    private mutating func fallback(_ peer: PeerRef, _ use: SocketFacts.RdmaUse, _ set: [EndpointTrace],
                                   _ facts: [SocketFacts], from e: Int) -> DescriptorSource {
        switch peer {
        case .synthetic(let i):
            let n = self.synthetic[i].regions[use.descriptor] ?? self.synthetic[i].regions.count
            self.synthetic[i].regions[use.descriptor] = n
            return .synthetic(peer: i, region: n)
        case .socket(let k):
            let when = set[e].realtime(use.firstTSC)
            let candidates = facts[k.endpoint].registeredDescriptors
                .filter { $0.value.socket == k.socket && set[k.endpoint].realtime($0.value.tsc) <= when }
                .sorted { $0.value.tsc < $1.value.tsc }
            if let last = candidates.last {
                self.notes.append("\(set[e].name): descriptor #\(use.descriptor) has no recorded bytes; paired with \(set[k.endpoint].name)'s registration #\(last.key) on the peer socket by time")
                return .registered(DescriptorKey(endpoint: k.endpoint, descriptor: last.key))
            }
            self.notes.append("\(set[e].name): RDMA target descriptor #\(use.descriptor) matches no registration of the peer")
            return .unknown
        }
    }
}

/// Per endpoint: what its sockets did (listen, connect, accept, addresses) and its RDMA
/// registrations and targets.
struct SocketFacts {
    struct Connect {
        var socket: UInt64
        var call: Int32
        var target: RecordedAddress?
        var succeeded: Bool
    }
    struct Accept {
        var socket: UInt64
        var call: Int32
        var peer: RecordedAddress?
    }
    struct RdmaUse {
        var descriptor: UInt64
        var socket: UInt64
        var firstTSC: UInt64
    }

    var listening: [UInt64] = []
    /// Local addresses of each socket (bind, then WSPGetSockName).
    var addresses: [UInt64: [RecordedAddress]] = [:]
    var connects: [Connect] = []
    /// Listener socket → accepted sockets, in order.
    var accepts: [UInt64: [Accept]] = [:]
    /// Registered descriptor id → (socket, tsc).
    var registeredDescriptors: [UInt64: (socket: UInt64, tsc: UInt64)] = [:]
    var rdmaTargets: [RdmaUse] = []

    init(_ t: EndpointTrace) {
        var seenListen = Set<UInt64>()
        for (i, c) in t.calls.enumerated() where c.hasLeave {
            switch c.function {
            case .WSPBind where !c.failed:
                if let a = RecordedAddress(t.blob(c.blob)) { self.addresses[c.socket, default: []].append(a) }
            case .WSPGetSockName where !c.failed:
                if let a = RecordedAddress(t.blob(c.leaveBlob)) { self.addresses[c.socket, default: []].append(a) }
            case .WSPListen where !c.failed:
                if seenListen.insert(c.socket).inserted { self.listening.append(c.socket) }
            case .WSPConnect:
                guard !self.connects.contains(where: { $0.socket == c.socket }) else { break }
                self.connects.append(Connect(socket: c.socket, call: Int32(i), target: RecordedAddress(t.blob(c.blob)),
                                             succeeded: c.ret == 0 || c.err == wsaWouldBlock))
            case .WSPAccept where !c.failed:
                self.accepts[c.socket, default: []].append(Accept(socket: c.retObject, call: Int32(i),
                                                                  peer: RecordedAddress(t.blob(c.leaveBlob))))
            case .WSPRegisterRdmaMemory where !c.failed && c.retObject != 0:
                self.registeredDescriptors[c.retObject] = (c.socket, c.enterTSC)
            case .WSPRdmaWrite, .WSPRdmaRead:
                if c.object != 0, !self.rdmaTargets.contains(where: { $0.descriptor == c.object }) {
                    self.rdmaTargets.append(RdmaUse(descriptor: c.object, socket: c.socket, firstTSC: c.enterTSC))
                }
            default:
                break
            }
        }
    }
}
