import CIBVerbs
import Glibc

// Unsafe file: raw libibverbs calls. Every verbs function the provider uses goes through one
// closure here, so tests can drive the code above it (startup without a device, failing
// registrations) without a device, and so nothing else in the provider names a libibverbs
// symbol. `VerbsAPI.system` is the only real implementation; tests build their own.

/// A verbs call that failed: which function and the errno it left.
public struct VerbsError: Error, Equatable, Sendable, CustomStringConvertible {
    public var call: String
    public var code: Int32

    public init(_ call: String, _ code: Int32) {
        self.call = call
        self.code = code
    }

    /// `"ibv_get_device_list: Function not implemented (ENOSYS)"`.
    public var description: String { "\(self.call): \(VerbsErrno.message(self.code)) (\(VerbsErrno.name(self.code)))" }
}

/// errno names and messages for log lines (strerror gives only the message).
public enum VerbsErrno {
    public static func name(_ code: Int32) -> String {
        let names: [Int32: String] = [
            EPERM: "EPERM", ENOENT: "ENOENT", EINTR: "EINTR", EIO: "EIO", ENXIO: "ENXIO", EBADF: "EBADF",
            EAGAIN: "EAGAIN", ENOMEM: "ENOMEM", EACCES: "EACCES", EFAULT: "EFAULT", EBUSY: "EBUSY",
            EEXIST: "EEXIST", ENODEV: "ENODEV", EINVAL: "EINVAL", ENFILE: "ENFILE", EMFILE: "EMFILE",
            ENOSPC: "ENOSPC", ERANGE: "ERANGE", ENOSYS: "ENOSYS", EOPNOTSUPP: "EOPNOTSUPP",
            EPROTONOSUPPORT: "EPROTONOSUPPORT", ETIMEDOUT: "ETIMEDOUT", ECONNREFUSED: "ECONNREFUSED",
            ECONNRESET: "ECONNRESET", ENETDOWN: "ENETDOWN", ENETUNREACH: "ENETUNREACH", EHOSTUNREACH: "EHOSTUNREACH",
        ]
        return names[code] ?? "errno \(code)"
    }

    public static func message(_ code: Int32) -> String {
        guard let s = strerror(code) else { return "error \(code)" }
        return String(cString: s)
    }
}

public typealias VerbsDeviceList = UnsafeMutablePointer<UnsafeMutablePointer<ibv_device>?>
public typealias VerbsContext = UnsafeMutablePointer<ibv_context>
public typealias VerbsPD = UnsafeMutablePointer<ibv_pd>
public typealias VerbsMR = UnsafeMutablePointer<ibv_mr>
public typealias VerbsCQ = UnsafeMutablePointer<ibv_cq>
public typealias VerbsQP = UnsafeMutablePointer<ibv_qp>
public typealias VerbsChannel = UnsafeMutablePointer<ibv_comp_channel>

/// One function value per verbs call. Calls that report through errno return it as the error;
/// calls that return an errno value (modify_qp, post_send, …) return it directly (0 = success).
public struct VerbsAPI: Sendable {
    /// The devices and the list holding them; the caller opens what it keeps, then frees the
    /// list (device pointers that were not opened die with it, ibv_get_device_list(3)).
    public var getDeviceList: @Sendable () -> Result<(list: VerbsDeviceList?, devices: [UnsafeMutablePointer<ibv_device>]), VerbsError>
    public var freeDeviceList: @Sendable (VerbsDeviceList?) -> Void
    public var deviceName: @Sendable (UnsafeMutablePointer<ibv_device>) -> String
    public var openDevice: @Sendable (UnsafeMutablePointer<ibv_device>) -> Result<VerbsContext, VerbsError>
    public var closeDevice: @Sendable (VerbsContext) -> Void
    public var queryDevice: @Sendable (VerbsContext) -> Result<ibv_device_attr, VerbsError>
    public var queryPort: @Sendable (VerbsContext, UInt8) -> Result<ibv_port_attr, VerbsError>
    public var queryGIDEntry: @Sendable (VerbsContext, UInt8, UInt32) -> Result<ibv_gid_entry, VerbsError>
    public var queryGID: @Sendable (VerbsContext, UInt8, Int32) -> Result<[UInt8], VerbsError>
    public var allocPD: @Sendable (VerbsContext) -> Result<VerbsPD, VerbsError>
    public var deallocPD: @Sendable (VerbsPD) -> Int32
    public var registerMR: @Sendable (VerbsPD, UnsafeMutableRawPointer, Int, Int32) -> Result<VerbsMR, VerbsError>
    public var deregisterMR: @Sendable (VerbsMR) -> Int32
    public var createChannel: @Sendable (VerbsContext) -> Result<VerbsChannel, VerbsError>
    public var destroyChannel: @Sendable (VerbsChannel) -> Int32
    public var createCQ: @Sendable (VerbsContext, Int32, UnsafeMutableRawPointer?, VerbsChannel?) -> Result<VerbsCQ, VerbsError>
    public var destroyCQ: @Sendable (VerbsCQ) -> Int32
    public var requestNotify: @Sendable (VerbsCQ) -> Int32
    /// Blocks (or, on a nonblocking channel fd, fails with EAGAIN) for the next CQ event and
    /// returns the CQ and its context.
    public var getCQEvent: @Sendable (VerbsChannel) -> Result<(VerbsCQ, UnsafeMutableRawPointer?), VerbsError>
    public var ackCQEvents: @Sendable (VerbsCQ, UInt32) -> Void
    public var pollCQ: @Sendable (VerbsCQ, Int32, UnsafeMutablePointer<ibv_wc>) -> Int32
    public var createQP: @Sendable (VerbsPD, UnsafeMutablePointer<ibv_qp_init_attr>) -> Result<VerbsQP, VerbsError>
    public var modifyQP: @Sendable (VerbsQP, UnsafeMutablePointer<ibv_qp_attr>, Int32) -> Int32
    public var destroyQP: @Sendable (VerbsQP) -> Int32
    public var postSend: @Sendable (VerbsQP, UnsafeMutablePointer<ibv_send_wr>) -> Int32
    public var postReceive: @Sendable (VerbsQP, UnsafeMutablePointer<ibv_recv_wr>) -> Int32
}

extension VerbsAPI {
    /// libibverbs itself.
    public static let system = VerbsAPI(
        getDeviceList: {
            var count: Int32 = 0
            errno = 0
            guard let list = ibv_get_device_list(&count) else {
                return .failure(VerbsError("ibv_get_device_list", errno == 0 ? ENODEV : errno))
            }
            return .success((list, (0..<Int(count)).compactMap { list[$0] }))
        },
        freeDeviceList: { list in if let list { ibv_free_device_list(list) } },
        deviceName: { dev in ibv_get_device_name(dev).map { String(cString: $0) } ?? "?" },
        openDevice: { dev in
            errno = 0
            guard let ctx = ibv_open_device(dev) else { return .failure(VerbsError("ibv_open_device", errno)) }
            return .success(ctx)
        },
        closeDevice: { ctx in _ = ibv_close_device(ctx) },
        queryDevice: { ctx in
            var attr = ibv_device_attr()
            let rc = ibv_query_device(ctx, &attr)
            return rc == 0 ? .success(attr) : .failure(VerbsError("ibv_query_device", rc))
        },
        queryPort: { ctx, port in
            var attr = ibv_port_attr()
            let rc = ___ibv_query_port(ctx, port, &attr)
            return rc == 0 ? .success(attr) : .failure(VerbsError("ibv_query_port", rc))
        },
        queryGIDEntry: { ctx, port, index in
            var entry = ibv_gid_entry()
            let rc = ibv_query_gid_ex(ctx, UInt32(port), index, &entry, 0)
            return rc == 0 ? .success(entry) : .failure(VerbsError("ibv_query_gid_ex", rc))
        },
        queryGID: { ctx, port, index in
            var gid = ibv_gid()
            let rc = ibv_query_gid(ctx, port, index, &gid)
            guard rc == 0 else { return .failure(VerbsError("ibv_query_gid", errno)) }
            return .success(withUnsafeBytes(of: &gid) { Array($0) })
        },
        allocPD: { ctx in
            errno = 0
            guard let pd = ibv_alloc_pd(ctx) else { return .failure(VerbsError("ibv_alloc_pd", errno)) }
            return .success(pd)
        },
        deallocPD: { pd in ibv_dealloc_pd(pd) },
        registerMR: { pd, address, length, access in
            errno = 0
            guard let mr = ibv_reg_mr(pd, address, length, access) else { return .failure(VerbsError("ibv_reg_mr", errno)) }
            return .success(mr)
        },
        deregisterMR: { mr in ibv_dereg_mr(mr) },
        createChannel: { ctx in
            errno = 0
            guard let ch = ibv_create_comp_channel(ctx) else {
                return .failure(VerbsError("ibv_create_comp_channel", errno))
            }
            return .success(ch)
        },
        destroyChannel: { ch in ibv_destroy_comp_channel(ch) },
        createCQ: { ctx, entries, context, channel in
            errno = 0
            guard let cq = ibv_create_cq(ctx, entries, context, channel, 0) else {
                return .failure(VerbsError("ibv_create_cq", errno))
            }
            return .success(cq)
        },
        destroyCQ: { cq in ibv_destroy_cq(cq) },
        requestNotify: { cq in ibv_req_notify_cq(cq, 0) },
        getCQEvent: { channel in
            var cq: UnsafeMutablePointer<ibv_cq>?
            var context: UnsafeMutableRawPointer?
            guard ibv_get_cq_event(channel, &cq, &context) == 0, let cq else {
                return .failure(VerbsError("ibv_get_cq_event", errno))
            }
            return .success((cq, context))
        },
        ackCQEvents: { cq, n in ibv_ack_cq_events(cq, n) },
        pollCQ: { cq, n, wc in ibv_poll_cq(cq, n, wc) },
        createQP: { pd, attr in
            errno = 0
            guard let qp = ibv_create_qp(pd, attr) else { return .failure(VerbsError("ibv_create_qp", errno)) }
            return .success(qp)
        },
        modifyQP: { qp, attr, mask in ibv_modify_qp(qp, attr, mask) },
        destroyQP: { qp in ibv_destroy_qp(qp) },
        postSend: { qp, wr in
            var bad: UnsafeMutablePointer<ibv_send_wr>?
            return ibv_post_send(qp, wr, &bad)
        },
        postReceive: { qp, wr in
            var bad: UnsafeMutablePointer<ibv_recv_wr>?
            return ibv_post_recv(qp, wr, &bad)
        }
    )
}
