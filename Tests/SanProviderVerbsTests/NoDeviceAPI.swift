import CIBVerbs
import Glibc
@testable import SanProviderVerbs

/// A VerbsAPI for tests of what happens when libibverbs has no usable device: the device list
/// call fails (or lists nothing) and every other call fails with ENOSYS, so a code path that
/// wrongly goes on to use a device fails loudly instead of touching hardware.
enum NoDeviceAPI {
    static func make(listError: Int32?) -> VerbsAPI {
        VerbsAPI(
            getDeviceList: { listError.map { .failure(VerbsError("ibv_get_device_list", $0)) } ?? .success((nil, [])) },
            freeDeviceList: { _ in },
            deviceName: { _ in "none" },
            openDevice: { _ in .failure(VerbsError("ibv_open_device", ENOSYS)) },
            closeDevice: { _ in },
            queryDevice: { _ in .failure(VerbsError("ibv_query_device", ENOSYS)) },
            queryPort: { _, _ in .failure(VerbsError("ibv_query_port", ENOSYS)) },
            queryGIDEntry: { _, _, _ in .failure(VerbsError("ibv_query_gid_ex", ENOSYS)) },
            queryGID: { _, _, _ in .failure(VerbsError("ibv_query_gid", ENOSYS)) },
            allocPD: { _ in .failure(VerbsError("ibv_alloc_pd", ENOSYS)) },
            deallocPD: { _ in ENOSYS },
            registerMR: { _, _, _, _ in .failure(VerbsError("ibv_reg_mr", ENOSYS)) },
            deregisterMR: { _ in ENOSYS },
            createChannel: { _ in .failure(VerbsError("ibv_create_comp_channel", ENOSYS)) },
            destroyChannel: { _ in ENOSYS },
            createCQ: { _, _, _, _ in .failure(VerbsError("ibv_create_cq", ENOSYS)) },
            destroyCQ: { _ in ENOSYS },
            requestNotify: { _ in ENOSYS },
            getCQEvent: { _ in .failure(VerbsError("ibv_get_cq_event", ENOSYS)) },
            ackCQEvents: { _, _ in },
            pollCQ: { _, _, _ in -1 },
            createQP: { _, _ in .failure(VerbsError("ibv_create_qp", ENOSYS)) },
            modifyQP: { _, _, _ in ENOSYS },
            destroyQP: { _ in ENOSYS },
            postSend: { _, _ in ENOSYS },
            postReceive: { _, _ in ENOSYS })
    }
}
