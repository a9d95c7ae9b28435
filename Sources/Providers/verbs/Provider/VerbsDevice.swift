import CIBVerbs
import Glibc
import Synchronization

// Unsafe file: reads libibverbs attribute structures into Swift values.

/// The port facts a connection needs (`struct ibv_port_attr`).
struct VerbsPortInfo: Sendable {
    var number: UInt8
    var active: Bool
    var stateName: String
    var lid: UInt16
    /// `enum ibv_mtu`, 1…5.
    var activeMTU: UInt8
    var maxMessageSize: UInt32
    var linkLayer: VerbsConnectMessage.LinkLayer
    var gidTableLength: Int32

    var candidate: VerbsPortCandidate {
        VerbsPortCandidate(number: self.number, active: self.active, stateName: self.stateName, linkLayer: self.linkLayer)
    }
}

/// The device limits a queue pair is sized by (`struct ibv_device_attr`).
struct VerbsDeviceLimits: Sendable {
    var maxQueuePairDepth: Int32
    var maxSGE: Int32
    var maxReadSGE: Int32
    var maxCQE: Int32
    var maxResponderResources: Int32
    var maxInitiatorDepth: Int32
    var portCount: UInt8
}

/// One opened device: its context, limits and (created on first use) its completion channel and
/// progress thread. Devices stay open for the life of the process: the library is never unloaded
/// (`-z nodelete`) and its progress threads must never see a closed context.
final class VerbsDevice: @unchecked Sendable {
    let api: VerbsAPI
    let name: String
    let context: VerbsContext
    let limits: VerbsDeviceLimits
    private let engine = Mutex<VerbsProgress?>(nil)

    private init(api: VerbsAPI, name: String, context: VerbsContext, limits: VerbsDeviceLimits) {
        self.api = api
        self.name = name
        self.context = context
        self.limits = limits
    }

    /// Opens every device libibverbs lists. An empty list is an error: the provider cannot start.
    static func openAll(api: VerbsAPI) -> Result<[VerbsDevice], VerbsError> {
        let list: [UnsafeMutablePointer<ibv_device>], holder: VerbsDeviceList?
        switch api.getDeviceList() {
        case .success(let l): (holder, list) = l
        case .failure(let e): return .failure(e)
        }
        // Opened devices outlive the list; the others must not be touched after this.
        defer { api.freeDeviceList(holder) }
        guard !list.isEmpty else { return .failure(VerbsError("ibv_get_device_list", ENODEV)) }
        var opened: [VerbsDevice] = []
        var firstError: VerbsError?
        for dev in list {
            let name = api.deviceName(dev)
            let context: VerbsContext
            switch api.openDevice(dev) {
            case .success(let c): context = c
            case .failure(let e):
                firstError = firstError ?? VerbsError("\(e.call)(\(name))", e.code)
                continue
            }
            switch api.queryDevice(context) {
            case .success(let a):
                let limits = VerbsDeviceLimits(
                    maxQueuePairDepth: a.max_qp_wr, maxSGE: a.max_sge, maxReadSGE: a.max_sge_rd > 0 ? a.max_sge_rd : a.max_sge,
                    maxCQE: a.max_cqe, maxResponderResources: a.max_qp_rd_atom, maxInitiatorDepth: a.max_qp_init_rd_atom,
                    portCount: a.phys_port_cnt)
                opened.append(VerbsDevice(api: api, name: name, context: context, limits: limits))
            case .failure(let e):
                firstError = firstError ?? VerbsError("\(e.call)(\(name))", e.code)
                api.closeDevice(context)
            }
        }
        if opened.isEmpty, let firstError { return .failure(firstError) }
        return .success(opened)
    }

    /// The current state of a port (queried each time: a link can go down).
    func port(_ number: UInt8) -> Result<VerbsPortInfo, VerbsError> {
        switch self.api.queryPort(self.context, number) {
        case .failure(let e): return .failure(e)
        case .success(let a):
            let states = ["NOP", "DOWN", "INIT", "ARMED", "ACTIVE", "ACTIVE_DEFER"]
            let state = a.state.rawValue
            return .success(VerbsPortInfo(
                number: number, active: state == IBV_PORT_ACTIVE.rawValue,
                stateName: state < UInt32(states.count) ? "PORT_" + states[Int(state)] : "state \(state)",
                lid: a.lid, activeMTU: UInt8(truncatingIfNeeded: a.active_mtu.rawValue), maxMessageSize: a.max_msg_sz,
                linkLayer: a.link_layer == UInt8(IBV_LINK_LAYER_ETHERNET) ? .ethernet : .infiniband,
                gidTableLength: a.gid_tbl_len))
        }
    }

    /// The device as the selection sees it (ports that cannot be queried are left out).
    var candidate: VerbsDeviceCandidate {
        let count = max(self.limits.portCount, 1)
        let ports = (1...count).compactMap { n -> VerbsPortCandidate? in
            if case .success(let p) = self.port(n) { return p.candidate }
            return nil
        }
        return VerbsDeviceCandidate(name: self.name, ports: ports)
    }

    /// The port's GID table (at most 256 entries; empty ones and unreadable ones left out).
    func gidEntries(port: VerbsPortInfo) -> [VerbsGIDEntry] {
        let count = UInt32(min(max(port.gidTableLength, 0), 256))
        return (0..<count).compactMap { i -> VerbsGIDEntry? in
            guard case .success(var e) = self.api.queryGIDEntry(self.context, port.number, i) else { return nil }
            let gid = withUnsafeBytes(of: &e.gid) { Array($0) }
            guard gid.contains(where: { $0 != 0 }) else { return nil }
            let kind: VerbsGIDEntry.Kind
            switch e.gid_type {
            case UInt32(IBV_GID_TYPE_ROCE_V2.rawValue): kind = .roceV2
            case UInt32(IBV_GID_TYPE_ROCE_V1.rawValue): kind = .roceV1
            default: kind = .infiniband
            }
            return VerbsGIDEntry(index: UInt8(i), gid: gid, kind: kind)
        }
    }

    func gid(port: UInt8, index: UInt8) -> Result<[UInt8], VerbsError> {
        self.api.queryGID(self.context, port, Int32(index))
    }

    /// The device's completion channel and progress thread, started on first use.
    func progress(onCompletion: @escaping @Sendable (UInt) -> Void,
                  onHangup: @escaping @Sendable (UInt) -> Void) -> Result<VerbsProgress, VerbsError> {
        self.engine.withLock { engine in
            if let engine { return .success(engine) }
            switch VerbsProgress.start(api: self.api, context: self.context, onCompletion: onCompletion, onHangup: onHangup) {
            case .success(let p):
                engine = p
                return .success(p)
            case .failure(let e): return .failure(e)
            }
        }
    }
}
