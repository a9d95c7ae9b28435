/// Which device, port and GID a socket uses: from its socket options, else the environment
/// (`SAN_VERBS_DEVICE`, `SAN_VERBS_PORT`, `SAN_VERBS_GID_INDEX`), else the first active port of
/// the first device that has one. Pure: the candidates come from ``VerbsDevices``.
public struct VerbsSelection: Equatable, Sendable {
    public var deviceName: String?
    public var port: UInt8?
    /// nil: choose automatically (``VerbsDeviceSelection/defaultGIDIndex(linkLayer:entries:)``).
    public var gidIndex: UInt8?

    public init(deviceName: String? = nil, port: UInt8? = nil, gidIndex: UInt8? = nil) {
        self.deviceName = deviceName
        self.port = port
        self.gidIndex = gidIndex
    }

    /// Fields set in `override` replace ours (a socket option over the environment).
    public func overridden(by override: VerbsSelection) -> VerbsSelection {
        VerbsSelection(deviceName: override.deviceName ?? self.deviceName, port: override.port ?? self.port,
                       gidIndex: override.gidIndex ?? self.gidIndex)
    }
}

/// One port as the selection sees it.
public struct VerbsPortCandidate: Equatable, Sendable {
    public var number: UInt8
    public var active: Bool
    /// `ibv_port_state_str`, for messages ("PORT_DOWN").
    public var stateName: String
    public var linkLayer: VerbsConnectMessage.LinkLayer

    public init(number: UInt8, active: Bool, stateName: String, linkLayer: VerbsConnectMessage.LinkLayer) {
        self.number = number
        self.active = active
        self.stateName = stateName
        self.linkLayer = linkLayer
    }
}

public struct VerbsDeviceCandidate: Equatable, Sendable {
    public var name: String
    public var ports: [VerbsPortCandidate]

    public init(name: String, ports: [VerbsPortCandidate]) {
        self.name = name
        self.ports = ports
    }
}

/// One GID table entry (`struct ibv_gid_entry`).
public struct VerbsGIDEntry: Equatable, Sendable {
    public enum Kind: Equatable, Sendable { case infiniband, roceV1, roceV2 }
    public var index: UInt8
    public var gid: [UInt8]
    public var kind: Kind

    public init(index: UInt8, gid: [UInt8], kind: Kind) {
        self.index = index
        self.gid = gid
        self.kind = kind
    }

    /// `::ffff:a.b.c.d`, the RoCE v2 GID of an IPv4 address.
    public var isIPv4Mapped: Bool {
        self.gid.count == 16 && self.gid[0..<10].allSatisfy { $0 == 0 } && self.gid[10] == 0xff && self.gid[11] == 0xff
    }
}

/// A selection that cannot be satisfied; `description` is the log line's reason.
public struct VerbsSelectionError: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

public enum VerbsDeviceSelection {
    public static let deviceVariable = "SAN_VERBS_DEVICE"
    public static let portVariable = "SAN_VERBS_PORT"
    public static let gidIndexVariable = "SAN_VERBS_GID_INDEX"

    /// Reads the three variables through `lookup` (getenv in the provider). Empty values count as
    /// unset; a malformed number is an error, not silently ignored.
    public static func fromEnvironment(_ lookup: (String) -> String?) -> Result<VerbsSelection, VerbsSelectionError> {
        var s = VerbsSelection()
        if let name = lookup(Self.deviceVariable), !name.isEmpty {
            guard Self.isValidDeviceName(name) else {
                return .failure(VerbsSelectionError("\(Self.deviceVariable)=\(name): not a device name"))
            }
            s.deviceName = name
        }
        if let text = lookup(Self.portVariable), !text.isEmpty {
            guard let port = UInt8(text), port >= 1 else {
                return .failure(VerbsSelectionError("\(Self.portVariable)=\(text): expected a port number 1…255"))
            }
            s.port = port
        }
        if let text = lookup(Self.gidIndexVariable), !text.isEmpty {
            guard let index = UInt8(text) else {
                return .failure(VerbsSelectionError("\(Self.gidIndexVariable)=\(text): expected a GID index 0…255"))
            }
            s.gidIndex = index
        }
        return .success(s)
    }

    /// Device names as the kernel makes them (`mlx5_0`, `rxe0`, `siw_eth0`): 1…63 printable
    /// characters without `/` (IB_DEVICE_NAME_MAX is 64 with the NUL).
    public static func isValidDeviceName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        return (1...63).contains(bytes.count) && bytes.allSatisfy { $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "/") }
    }

    /// The device and port to use.
    public static func choose(_ selection: VerbsSelection,
                              among devices: [VerbsDeviceCandidate]) -> Result<(device: String, port: VerbsPortCandidate), VerbsSelectionError> {
        guard !devices.isEmpty else { return .failure(VerbsSelectionError("no RDMA device")) }
        let pool: [VerbsDeviceCandidate]
        if let wanted = selection.deviceName {
            guard let hit = devices.first(where: { $0.name == wanted }) else {
                let names = devices.map(\.name).joined(separator: ", ")
                return .failure(VerbsSelectionError("device \(wanted) not found (devices: \(names))"))
            }
            pool = [hit]
        } else {
            pool = devices
        }
        if let port = selection.port {
            // The first device whose port `port` is active; failing that, say why the first
            // device that has such a port cannot be used.
            let withPort = pool.compactMap { d in d.ports.first { $0.number == port }.map { (d.name, $0) } }
            if let hit = withPort.first(where: { $0.1.active }) { return .success(hit) }
            if let (name, down) = withPort.first {
                return .failure(VerbsSelectionError("\(name) port \(port) is \(down.stateName), not active"))
            }
            return .failure(VerbsSelectionError("no port \(port) on \(pool.map(\.name).joined(separator: ", "))"))
        }
        for device in pool {
            if let hit = device.ports.first(where: \.active) { return .success((device.name, hit)) }
        }
        let states = pool.flatMap { d in d.ports.map { "\(d.name) port \($0.number) \($0.stateName)" } }
        return .failure(VerbsSelectionError("no active port (\(states.isEmpty ? "no ports" : states.joined(separator: ", ")))"))
    }

    /// The GID index when none was chosen: 0 on InfiniBand (the port GID; LIDs route anyway); on
    /// RoCE the first RoCE v2 entry holding an IPv4-mapped address (routable, and what rdma_cm
    /// picks for IPv4), else the first RoCE v2 entry, else the first entry.
    public static func defaultGIDIndex(linkLayer: VerbsConnectMessage.LinkLayer, entries: [VerbsGIDEntry]) -> UInt8 {
        guard linkLayer == .ethernet else { return 0 }
        let usable = entries.filter { $0.gid.contains { $0 != 0 } }
        if let v4 = usable.first(where: { $0.kind == .roceV2 && $0.isIPv4Mapped }) { return v4.index }
        if let v2 = usable.first(where: { $0.kind == .roceV2 }) { return v2.index }
        return usable.first?.index ?? 0
    }
}
