import CSanABI
import Glibc
import SanCore
import SanProviderKit

/// Queue-pair set-up shared by WSPConnect and WSPAccept: resolve the device, create the QP in
/// INIT, describe it to the peer, then follow the peer's description to RTS.
extension VerbsProvider {
    /// A QP in INIT and what this side announces.
    struct PreparedQueuePair {
        var device: VerbsDevice
        var progress: VerbsProgress
        var queuePair: VerbsQueuePair
        var port: VerbsPortInfo
        var local: VerbsLocalPath
    }

    /// The environment's selection with the socket's options over it.
    func effectiveSelection(_ socketSelection: VerbsSelection) -> Result<(VerbsDefaults, VerbsSelection), WSAError> {
        switch self.defaults() {
        case .success(let d): return .success((d, d.selection.overridden(by: socketSelection)))
        case .failure: return .failure(.networkDown)
        }
    }

    /// Checks a selection can be used now (WSPListen reports a bad option there, not at accept).
    func check(_ socketSelection: VerbsSelection) -> WSAError? {
        switch self.effectiveSelection(socketSelection) {
        case .failure(let e): return e
        case .success(let (defaults, selection)):
            if case .failure(let e) = self.resolve(selection, among: defaults.devices) {
                VerbsLog.line("socket options: \(e)")
                return .networkDown
            }
            return nil
        }
    }

    /// Creates the QP of socket `tag` on the selected port and moves it to INIT.
    func prepareQueuePair(_ socketSelection: VerbsSelection, tag: SOCKET) -> Result<PreparedQueuePair, WSAError> {
        let defaults: VerbsDefaults, selection: VerbsSelection
        switch self.effectiveSelection(socketSelection) {
        case .success(let x): (defaults, selection) = x
        case .failure(let e): return .failure(e)
        }
        let device: VerbsDevice, port: VerbsPortInfo
        switch self.resolve(selection, among: defaults.devices) {
        case .success(let x): (device, port) = x
        case .failure(let e):
            VerbsLog.line("connection set-up: \(e)")
            return .failure(.networkDown)
        }
        let gidIndex = selection.gidIndex
            ?? VerbsDeviceSelection.defaultGIDIndex(linkLayer: port.linkLayer, entries: device.gidEntries(port: port))
        let gid: [UInt8]
        switch device.gid(port: port.number, index: gidIndex) {
        case .success(let g): gid = g
        case .failure(let e): return .failure(Self.report(e, "\(device.name) port \(port.number) GID \(gidIndex)"))
        }
        let progress: VerbsProgress
        switch device.progress(onCompletion: { [self] tag in self.completionsArrived(tag) },
                               onHangup: { [self] tag in self.peerHungUp(tag) }) {
        case .success(let p): progress = p
        case .failure(let e): return .failure(Self.report(e, device.name))
        }
        let queuePair: VerbsQueuePair
        switch VerbsQueuePair.create(device: device, channel: progress.channel, tag: tag) {
        case .success(let q): queuePair = q
        case .failure(let e): return .failure(Self.report(e, device.name))
        }
        let depth = VerbsQueuePairTuning.readDepth
        let endpoint = VerbsEndpoint(
            queuePairNumber: queuePair.number, packetSequenceNumber: UInt32.random(in: 0...0xFF_FFFF), lid: port.lid,
            gid: gid, mtu: port.activeMTU, linkLayer: port.linkLayer,
            initiatorDepth: UInt8(clamping: min(Int32(depth), max(device.limits.maxInitiatorDepth, 0))),
            responderResources: UInt8(clamping: min(Int32(depth), max(device.limits.maxResponderResources, 0))))
        let local = VerbsLocalPath(portNumber: port.number, gidIndex: gidIndex, endpoint: endpoint)
        let prepared = PreparedQueuePair(device: device, progress: progress, queuePair: queuePair, port: port, local: local)
        if let e = self.step(prepared, from: .reset, to: .initialized, peer: nil) {
            queuePair.destroy()
            return .failure(e)
        }
        return .success(prepared)
    }

    /// INIT → RTR → RTS towards `peer`. On failure the caller destroys the QP.
    func bringUp(_ prepared: PreparedQueuePair, peer: VerbsEndpoint) -> WSAError? {
        if let e = self.step(prepared, from: .initialized, to: .readyToReceive, peer: peer) { return e }
        return self.step(prepared, from: .readyToReceive, to: .readyToSend, peer: peer)
    }

    private func step(_ prepared: PreparedQueuePair, from: VerbsQueuePairState, to: VerbsQueuePairState,
                      peer: VerbsEndpoint?) -> WSAError? {
        switch VerbsQueuePairTransitions.attributes(from: from, to: to, local: prepared.local, peer: peer) {
        case .failure(let e):
            VerbsLog.line("QP \(prepared.queuePair.number) \(from)→\(to): \(e)")
            return .connectionAborted
        case .success(let attributes):
            if let e = prepared.queuePair.modify(attributes) { return Self.report(e, prepared.device.name) }
            return nil
        }
    }

    /// Logs a verbs failure during set-up and maps it to the WSA error WSPConnect / WSPAccept
    /// report: no memory → WSAENOBUFS; anything else → WSAENETDOWN (not one of the errors after
    /// which the switch refuses to fall back to TCP, reference §4.2).
    static func report(_ e: VerbsError, _ context: String) -> WSAError {
        VerbsLog.line("\(context): \(e)")
        return e.code == ENOMEM || e.code == EAGAIN ? .noBuffers : .networkDown
    }

    /// Wraps a QP that reached RTS and its side channel into a connection.
    func connection(_ prepared: PreparedQueuePair, peer: VerbsEndpoint, sideChannel: Int32) -> VerbsConnection {
        VerbsConnection(device: prepared.device, progress: prepared.progress, queuePair: prepared.queuePair,
                        port: prepared.port, local: prepared.local, peer: peer, sideChannel: sideChannel)
    }
}
