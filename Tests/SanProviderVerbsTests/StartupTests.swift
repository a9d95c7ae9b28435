import CIBVerbs
import CSanABI
import Glibc
import SanCore
@testable import SanProviderVerbs
import Testing

/// WSPStartupEx without an RDMA device: WSASYSNOTREADY, a reason that names the failing call and
/// its errno, and nothing written to the proc table.
@Suite struct StartupTests {
    func callStartup(_ provider: VerbsProvider, version: UInt16 = 0x0202) -> (Int32, [UInt8]) {
        var data = WSPDATA()
        var upcalls = WSPUPCALLTABLEEX()
        var table = WSPPROC_TABLE()
        let rc = provider.startup(version: version, data: &data, upcalls: &upcalls, procTable: &table)
        return (rc, withUnsafeBytes(of: &table) { Array($0) })
    }

    @Test func enosysFromTheDeviceListIsSysNotReady() {
        let provider = VerbsProvider(api: NoDeviceAPI.make(listError: ENOSYS), environment: { _ in nil })
        guard case .failure(let reason) = provider.prepare() else {
            Issue.record("prepare succeeded without a device")
            return
        }
        #expect(reason.description == "no RDMA device: ibv_get_device_list: Function not implemented (ENOSYS)")
        let (rc, table) = self.callStartup(provider)
        #expect(rc == WSASYSNOTREADY)
        #expect(rc == 10091)
        #expect(table.allSatisfy { $0 == 0 }, "a failed startup leaves the proc table alone")
    }

    @Test func anEmptyDeviceListIsSysNotReady() {
        let provider = VerbsProvider(api: NoDeviceAPI.make(listError: nil), environment: { _ in nil })
        guard case .failure(let reason) = provider.prepare() else {
            Issue.record("prepare succeeded with no devices")
            return
        }
        #expect(reason.description == "no RDMA device: ibv_get_device_list: No such device (ENODEV)")
        #expect(self.callStartup(provider).0 == WSASYSNOTREADY)
    }

    @Test func aMalformedEnvironmentVariableIsTheReason() {
        let env = ["SAN_VERBS_PORT": "first"]
        let provider = VerbsProvider(api: NoDeviceAPI.make(listError: ENOSYS), environment: { env[$0] })
        guard case .failure(let reason) = provider.prepare() else {
            Issue.record("prepare accepted SAN_VERBS_PORT=first")
            return
        }
        #expect(reason.description == "SAN_VERBS_PORT=first: expected a port number 1…255")
        #expect(self.callStartup(provider).0 == WSASYSNOTREADY)
    }

    @Test func argumentsAreCheckedBeforeTheDevice() {
        let provider = VerbsProvider(api: NoDeviceAPI.make(listError: ENOSYS), environment: { _ in nil })
        var upcalls = WSPUPCALLTABLEEX()
        var table = WSPPROC_TABLE()
        #expect(provider.startup(version: 0x0202, data: nil, upcalls: &upcalls, procTable: &table) == WSAEFAULT)
        #expect(self.callStartup(provider, version: 0x0101).0 == WSAVERNOTSUPPORTED)
    }

    /// The shipped API on this machine: whatever libibverbs says, startup agrees with it. Where
    /// the device list fails (no RDMA in the kernel) or is empty, the reason quotes that call.
    @Test func theSystemAPIAgreesWithTheDeviceList() {
        let provider = VerbsProvider(api: .system, environment: { _ in nil })
        switch VerbsAPI.system.getDeviceList() {
        case .failure(let e):
            guard case .failure(let reason) = provider.prepare() else {
                Issue.record("startup succeeded although ibv_get_device_list failed: \(e)")
                return
            }
            #expect(reason.description == "no RDMA device: \(e)")
        case .success(let (holder, list)) where list.isEmpty:
            VerbsAPI.system.freeDeviceList(holder)
            guard case .failure(let reason) = provider.prepare() else {
                Issue.record("startup succeeded with no devices")
                return
            }
            #expect(reason.description.hasPrefix("no RDMA device: ibv_get_device_list"))
        case .success(let (holder, _)):
            VerbsAPI.system.freeDeviceList(holder)
            // A device exists: startup succeeds exactly when some port is active.
            if case .failure(let reason) = provider.prepare() {
                #expect(reason.description.contains("port"), "unexpected reason: \(reason)")
            }
        }
    }

    @Test func errnoNamesAndMessages() {
        #expect(VerbsError("ibv_reg_mr", ENOMEM).description == "ibv_reg_mr: Cannot allocate memory (ENOMEM)")
        #expect(VerbsErrno.name(9999) == "errno 9999")
    }
}
