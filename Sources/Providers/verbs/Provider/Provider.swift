import CSanABI
import Glibc
import SanCore
import SanProviderKit
import Synchronization

/// The `verbs` provider: SAN sockets over libibverbs RC queue pairs.
///
/// - One RC QP per connected SAN socket, with its own PD and CQ; the CQs of a device share one
///   completion channel, served by the device's progress thread (``VerbsProgress``).
/// - WSPConnect / WSPAccept exchange QP addressing over TCP (``VerbsConnectMessage``) and move
///   the QP RESET → INIT → RTR → RTS (``VerbsQueuePairTransitions``).
/// - Registrations are ibv_reg_mr regions; RDMA descriptors (``VerbsDescriptor``) carry address
///   and rkey; deregistration is ibv_dereg_mr, which revokes the peer's access.
/// - Without an RDMA device WSPStartupEx fails with WSASYSNOTREADY and one line on stderr.
public final class VerbsProvider: Sendable {
    public static let shared = VerbsProvider(api: .system, environment: { name in
        getenv(name).map { String(cString: $0) }
    })

    let api: VerbsAPI
    let environment: @Sendable (String) -> String?
    let startup = ProviderStartup(description: "sanreplay verbs provider (libibverbs RC queue pairs)")
    let sockets = SocketTable<VerbsSocket>(base: 0x5600_0000)
    let completer = OverlappedCompleter()
    private let prepared = Mutex<VerbsDefaults?>(nil)

    var upcalls: ProviderUpcalls { self.startup.upcalls }

    /// `api` is libibverbs (``VerbsAPI/system``) in the shipped library; `environment` is getenv.
    public init(api: VerbsAPI, environment: @escaping @Sendable (String) -> String?) {
        self.api = api
        self.environment = environment
    }

    /// What startup found: the devices, the environment's selection and the default port.
    struct VerbsDefaults: Sendable {
        var devices: [VerbsDevice]
        var selection: VerbsSelection
        var device: VerbsDevice
        var port: VerbsPortInfo
        var limits: SanSocketLimits
    }

    /// Opens the devices and checks that the environment's selection (or the default) names an
    /// active port. The first success is kept for the life of the process; a failure is retried
    /// at the next WSPStartupEx. The error text is the reason the log line gives.
    public func prepare() -> Result<Void, VerbsSelectionError> {
        switch self.defaults() {
        case .success: return .success(())
        case .failure(let e): return .failure(e)
        }
    }

    func defaults() -> Result<VerbsDefaults, VerbsSelectionError> {
        self.prepared.withLock { prepared in
            if let prepared { return .success(prepared) }
            let selection: VerbsSelection
            switch VerbsDeviceSelection.fromEnvironment(self.environment) {
            case .success(let s): selection = s
            case .failure(let e): return .failure(e)
            }
            let devices: [VerbsDevice]
            switch VerbsDevice.openAll(api: self.api) {
            case .success(let d): devices = d
            case .failure(let e): return .failure(VerbsSelectionError("no RDMA device: \(e)"))
            }
            let port: VerbsPortInfo
            let device: VerbsDevice
            switch self.resolve(selection, among: devices) {
            case .success(let r): (device, port) = r
            case .failure(let e): return .failure(e)
            }
            let limit = min(port.maxMessageSize, 1 << 30)
            let d = VerbsDefaults(devices: devices, selection: selection, device: device, port: port,
                                  limits: SanSocketLimits(maxMessageSize: limit, maxRdmaSize: limit, rdmaThreshold: 4096))
            prepared = d
            return .success(d)
        }
    }

    /// The device and port a selection names, with current port states.
    func resolve(_ selection: VerbsSelection, among devices: [VerbsDevice]) -> Result<(VerbsDevice, VerbsPortInfo), VerbsSelectionError> {
        switch VerbsDeviceSelection.choose(selection, among: devices.map(\.candidate)) {
        case .failure(let e): return .failure(e)
        case .success(let choice):
            let device = devices.first { $0.name == choice.device }!
            switch device.port(choice.port.number) {
            case .success(let p): return .success((device, p))
            case .failure(let e): return .failure(VerbsSelectionError("\(device.name) port \(choice.port.number): \(e)"))
            }
        }
    }

    /// The SAN limits sockets report (those of the default port).
    var limits: SanSocketLimits {
        if case .success(let d) = self.defaults() { return d.limits }
        return SanSocketLimits(maxMessageSize: 1 << 20, maxRdmaSize: 1 << 20, rdmaThreshold: 4096)
    }
}
