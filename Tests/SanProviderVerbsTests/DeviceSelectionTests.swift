import CSanABI
import SanCore
@testable import SanProviderVerbs
import Testing

/// Device, port and GID selection: environment, socket options, defaults.
@Suite struct DeviceSelectionTests {
    func port(_ n: UInt8, _ active: Bool, _ link: VerbsConnectMessage.LinkLayer = .infiniband) -> VerbsPortCandidate {
        VerbsPortCandidate(number: n, active: active, stateName: active ? "PORT_ACTIVE" : "PORT_DOWN", linkLayer: link)
    }

    var devices: [VerbsDeviceCandidate] {
        [VerbsDeviceCandidate(name: "mlx5_0", ports: [self.port(1, false), self.port(2, false)]),
         VerbsDeviceCandidate(name: "mlx5_1", ports: [self.port(1, false), self.port(2, true)]),
         VerbsDeviceCandidate(name: "rxe0", ports: [self.port(1, true, .ethernet)])]
    }

    @Test func environment() {
        let env = ["SAN_VERBS_DEVICE": "rxe0", "SAN_VERBS_PORT": "1", "SAN_VERBS_GID_INDEX": "3"]
        #expect(VerbsDeviceSelection.fromEnvironment { env[$0] } == .success(VerbsSelection(deviceName: "rxe0", port: 1, gidIndex: 3)))
        #expect(VerbsDeviceSelection.fromEnvironment { _ in nil } == .success(VerbsSelection()))
        #expect(VerbsDeviceSelection.fromEnvironment { _ in "" } == .success(VerbsSelection()), "empty counts as unset")
    }

    @Test func malformedEnvironmentIsAnError() {
        let bad: [(String, String, String)] = [
            ("SAN_VERBS_PORT", "0", "SAN_VERBS_PORT=0: expected a port number 1…255"),
            ("SAN_VERBS_PORT", "256", "SAN_VERBS_PORT=256: expected a port number 1…255"),
            ("SAN_VERBS_PORT", " 1", "SAN_VERBS_PORT= 1: expected a port number 1…255"),
            ("SAN_VERBS_GID_INDEX", "-1", "SAN_VERBS_GID_INDEX=-1: expected a GID index 0…255"),
            ("SAN_VERBS_DEVICE", "../mlx5_0", "SAN_VERBS_DEVICE=../mlx5_0: not a device name"),
            ("SAN_VERBS_DEVICE", "a b", "SAN_VERBS_DEVICE=a b: not a device name"),
        ]
        for (name, value, message) in bad {
            let r = VerbsDeviceSelection.fromEnvironment { $0 == name ? value : nil }
            #expect(r == .failure(VerbsSelectionError(message)))
        }
        #expect(!VerbsDeviceSelection.isValidDeviceName(String(repeating: "x", count: 64)))
        #expect(VerbsDeviceSelection.isValidDeviceName(String(repeating: "x", count: 63)))
    }

    @Test func defaultIsTheFirstActivePort() {
        let r = try? VerbsDeviceSelection.choose(VerbsSelection(), among: self.devices).get()
        #expect(r?.device == "mlx5_1" && r?.port.number == 2)
    }

    @Test func namedDeviceAndPort() {
        let r = try? VerbsDeviceSelection.choose(VerbsSelection(deviceName: "rxe0"), among: self.devices).get()
        #expect(r?.device == "rxe0" && r?.port.number == 1 && r?.port.linkLayer == .ethernet)
        let p = try? VerbsDeviceSelection.choose(VerbsSelection(port: 2), among: self.devices).get()
        #expect(p?.device == "mlx5_1", "the first device whose port 2 is active, not the first with a port 2")
    }

    @Test func unsatisfiableSelectionsSayWhy() {
        func reason(_ s: VerbsSelection, _ devices: [VerbsDeviceCandidate]? = nil) -> String? {
            if case .failure(let e) = VerbsDeviceSelection.choose(s, among: devices ?? self.devices) { return e.description }
            return nil
        }
        #expect(reason(VerbsSelection(deviceName: "mlx4_0")) == "device mlx4_0 not found (devices: mlx5_0, mlx5_1, rxe0)")
        #expect(reason(VerbsSelection(deviceName: "mlx5_0", port: 1)) == "mlx5_0 port 1 is PORT_DOWN, not active")
        #expect(reason(VerbsSelection(deviceName: "rxe0", port: 2)) == "no port 2 on rxe0")
        #expect(reason(VerbsSelection(deviceName: "mlx5_0")) == "no active port (mlx5_0 port 1 PORT_DOWN, mlx5_0 port 2 PORT_DOWN)")
        #expect(reason(VerbsSelection(), []) == "no RDMA device")
    }

    @Test func socketOptionsOverrideTheEnvironment() {
        let env = VerbsSelection(deviceName: "mlx5_0", port: 1, gidIndex: nil)
        #expect(env.overridden(by: VerbsSelection(port: 2, gidIndex: 1)) == VerbsSelection(deviceName: "mlx5_0", port: 2, gidIndex: 1))
        #expect(env.overridden(by: VerbsSelection()) == env)
    }

    @Test func defaultGIDIndex() {
        let linkLocal: [UInt8] = [0xfe, 0x80] + Array(repeating: 0, count: 13) + [1]
        let v4: [UInt8] = Array(repeating: 0, count: 10) + [0xff, 0xff, 10, 0, 0, 1]
        let entries = [
            VerbsGIDEntry(index: 0, gid: linkLocal, kind: .roceV1),
            VerbsGIDEntry(index: 1, gid: linkLocal, kind: .roceV2),
            VerbsGIDEntry(index: 2, gid: v4, kind: .roceV1),
            VerbsGIDEntry(index: 3, gid: v4, kind: .roceV2),
        ]
        #expect(VerbsDeviceSelection.defaultGIDIndex(linkLayer: .infiniband, entries: entries) == 0)
        #expect(VerbsDeviceSelection.defaultGIDIndex(linkLayer: .ethernet, entries: entries) == 3)
        #expect(VerbsDeviceSelection.defaultGIDIndex(linkLayer: .ethernet, entries: Array(entries.prefix(3))) == 1)
        #expect(VerbsDeviceSelection.defaultGIDIndex(linkLayer: .ethernet, entries: [entries[2]]) == 2)
        #expect(VerbsDeviceSelection.defaultGIDIndex(linkLayer: .ethernet, entries: []) == 0)
        #expect(VerbsGIDEntry(index: 0, gid: v4, kind: .roceV2).isIPv4Mapped)
        #expect(!VerbsGIDEntry(index: 0, gid: linkLocal, kind: .roceV2).isIPv4Mapped)
    }
}

/// The provider's own socket options (level SOL_SOCKET_WSA, 0x7400…0x74FF).
@Suite struct VerbsSocketOptionTests {
    func le(_ v: Int32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

    @Test func numbersAreInTheReservedRange() {
        #expect(VerbsSocketOption.allCases.map(\.rawValue) == [0x7400, 0x7401, 0x7402])
        for o in VerbsSocketOption.allCases { #expect(VerbsSocketOption.range.contains(o.rawValue)) }
        #expect(!VerbsSocketOption.range.contains(SO_RDMA_THRESHOLD_SIZE))
        #expect(!VerbsSocketOption.range.contains(SO_MAX_RDMA_SIZE))
    }

    @Test func setThenGet() {
        var s = VerbsSelection()
        #expect(VerbsSocketOption.device.apply(Array("rxe0".utf8) + [0, 0x41], to: &s) == nil)
        #expect(VerbsSocketOption.port.apply(self.le(2), to: &s) == nil)
        #expect(VerbsSocketOption.gidIndex.apply(self.le(5), to: &s) == nil)
        #expect(s == VerbsSelection(deviceName: "rxe0", port: 2, gidIndex: 5))
        #expect(VerbsSocketOption.device.value(of: s) == Array("rxe0".utf8) + [0])
        #expect(VerbsSocketOption.port.value(of: s) == self.le(2))
        #expect(VerbsSocketOption.gidIndex.value(of: s) == self.le(5))
    }

    @Test func automaticValues() {
        var s = VerbsSelection(deviceName: "rxe0", port: 2, gidIndex: 5)
        #expect(VerbsSocketOption.device.apply([], to: &s) == nil)
        #expect(VerbsSocketOption.port.apply(self.le(0), to: &s) == nil)
        #expect(VerbsSocketOption.gidIndex.apply(self.le(-1), to: &s) == nil)
        #expect(s == VerbsSelection())
        #expect(VerbsSocketOption.device.value(of: s) == [0])
        #expect(VerbsSocketOption.gidIndex.value(of: s) == self.le(-1))
    }

    @Test func badValuesAreRefused() {
        var s = VerbsSelection()
        #expect(VerbsSocketOption.port.apply([1, 0], to: &s) == .fault)
        #expect(VerbsSocketOption.port.apply(self.le(256), to: &s) == .invalidArgument)
        #expect(VerbsSocketOption.port.apply(self.le(-3), to: &s) == .invalidArgument)
        #expect(VerbsSocketOption.gidIndex.apply(self.le(-2), to: &s) == .invalidArgument)
        #expect(VerbsSocketOption.gidIndex.apply(self.le(256), to: &s) == .invalidArgument)
        #expect(VerbsSocketOption.device.apply(Array("a/b".utf8), to: &s) == .invalidArgument)
        #expect(VerbsSocketOption.device.apply(Array(repeating: 0x61, count: 64), to: &s) == .invalidArgument)
        #expect(s == VerbsSelection(), "a refused value changes nothing")
    }
}
