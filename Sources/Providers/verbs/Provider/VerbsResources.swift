import CIBVerbs
import Glibc

// Unsafe file: protection domain, CQ, QP and memory regions of one connection, and the copying of
// Swift values (attributes, sg lists) into libibverbs structures.

/// A registered memory region (`struct ibv_mr`).
final class VerbsMemoryRegion: @unchecked Sendable {
    let api: VerbsAPI
    private let mr: VerbsMR
    let address: UInt
    let length: UInt
    let access: VerbsAccess
    let lkey: UInt32
    let rkey: UInt32

    init(api: VerbsAPI, mr: VerbsMR, address: UInt, length: UInt, access: VerbsAccess) {
        self.api = api
        self.mr = mr
        self.address = address
        self.length = length
        self.access = access
        self.lkey = mr.pointee.lkey
        self.rkey = mr.pointee.rkey
    }

    /// ibv_dereg_mr: after it returns, the rkey is dead for the peer (this is how
    /// WSPDeregisterRdmaMemory revokes remote access, reference §5.2).
    func deregister() -> Int32 { self.api.deregisterMR(self.mr) }

    /// True when the region lies entirely inside [base, base+length) (the cache callback's rule).
    func isInside(base: UInt, length: UInt) -> Bool {
        self.address >= base && self.address &+ self.length <= base &+ length && base &+ length >= base
    }
}

/// One completion, copied out of `struct ibv_wc`.
struct VerbsWorkCompletion: Sendable {
    var requestID: UInt64
    var status: UInt32
    var byteLength: UInt32
    var vendorError: UInt32
}

/// The sizes a connection's queue pair was created with.
struct VerbsQueueLimits: Sendable {
    var sendDepth: Int
    var receiveDepth: Int
    var sendSGE: Int
    var receiveSGE: Int
    var readSGE: Int
}

/// One connection's PD, CQ (on the device's completion channel) and RC QP. A PD per connection
/// makes every rkey usable only by this connection's QP: a descriptor is "valid only for RDMA the
/// connected peer starts on this connection" (reference §1.4), enforced by the adapter.
final class VerbsQueuePair: @unchecked Sendable {
    static let requestedDepth: Int32 = 128
    static let requestedSGE: Int32 = 16

    let api: VerbsAPI
    private let pd: VerbsPD
    private let cq: VerbsCQ
    private let qp: VerbsQP
    let number: UInt32
    let limits: VerbsQueueLimits
    private(set) var state: VerbsQueuePairState = .reset

    private init(api: VerbsAPI, pd: VerbsPD, cq: VerbsCQ, qp: VerbsQP, limits: VerbsQueueLimits) {
        self.api = api
        self.pd = pd
        self.cq = cq
        self.qp = qp
        self.number = qp.pointee.qp_num
        self.limits = limits
    }

    /// Creates PD, CQ and QP (in RESET). `tag` becomes the CQ context the progress thread reports.
    static func create(device: VerbsDevice, channel: VerbsChannel, tag: UInt) -> Result<VerbsQueuePair, VerbsError> {
        let api = device.api
        let depth = min(Self.requestedDepth, max(device.limits.maxQueuePairDepth, 1))
        let sge = min(Self.requestedSGE, max(device.limits.maxSGE, 1))
        let pd: VerbsPD
        switch api.allocPD(device.context) {
        case .success(let x): pd = x
        case .failure(let e): return .failure(e)
        }
        let cq: VerbsCQ
        let entries = min(2 * depth, max(device.limits.maxCQE, 2))
        switch api.createCQ(device.context, entries, UnsafeMutableRawPointer(bitPattern: tag), channel) {
        case .success(let x): cq = x
        case .failure(let e):
            _ = api.deallocPD(pd)
            return .failure(e)
        }
        var initAttr = ibv_qp_init_attr()
        initAttr.send_cq = cq
        initAttr.recv_cq = cq
        initAttr.cap.max_send_wr = UInt32(depth)
        initAttr.cap.max_recv_wr = UInt32(depth)
        initAttr.cap.max_send_sge = UInt32(sge)
        initAttr.cap.max_recv_sge = UInt32(sge)
        initAttr.qp_type = IBV_QPT_RC
        initAttr.sq_sig_all = 0
        let qp: VerbsQP
        switch api.createQP(pd, &initAttr) {
        case .success(let x): qp = x
        case .failure(let e):
            _ = api.destroyCQ(cq)
            _ = api.deallocPD(pd)
            return .failure(e)
        }
        // ibv_create_qp writes back what it actually allocated.
        let cap = initAttr.cap
        let limits = VerbsQueueLimits(
            sendDepth: Int(cap.max_send_wr), receiveDepth: Int(cap.max_recv_wr), sendSGE: Int(cap.max_send_sge),
            receiveSGE: Int(cap.max_recv_sge), readSGE: Int(min(cap.max_send_sge, UInt32(max(device.limits.maxReadSGE, 1)))))
        _ = api.requestNotify(cq)
        return .success(VerbsQueuePair(api: api, pd: pd, cq: cq, qp: qp, limits: limits))
    }

    /// ibv_modify_qp with attributes from ``VerbsQueuePairTransitions``.
    func modify(_ a: VerbsQueuePairAttributes) -> VerbsError? {
        var attr = ibv_qp_attr()
        attr.qp_state = ibv_qp_state(rawValue: a.state.rawValue)
        attr.pkey_index = a.pkeyIndex
        attr.port_num = a.portNumber
        attr.qp_access_flags = a.access.rawValue
        attr.path_mtu = ibv_mtu(rawValue: UInt32(a.pathMTU))
        attr.dest_qp_num = a.destQueuePair
        attr.rq_psn = a.receivePSN
        attr.max_dest_rd_atomic = a.maxDestReadAtomic
        attr.min_rnr_timer = a.minRNRTimer
        if let av = a.addressVector {
            attr.ah_attr.dlid = av.destinationLID
            attr.ah_attr.sl = av.serviceLevel
            attr.ah_attr.src_path_bits = 0
            attr.ah_attr.port_num = av.portNumber
            attr.ah_attr.is_global = av.isGlobal ? 1 : 0
            attr.ah_attr.grh.sgid_index = av.sourceGIDIndex
            attr.ah_attr.grh.hop_limit = av.hopLimit
            withUnsafeMutableBytes(of: &attr.ah_attr.grh.dgid) { raw in
                for i in 0..<min(raw.count, av.destinationGID.count) { raw[i] = av.destinationGID[i] }
            }
        }
        attr.timeout = a.timeout
        attr.retry_cnt = a.retryCount
        attr.rnr_retry = a.rnrRetry
        attr.sq_psn = a.sendPSN
        attr.max_rd_atomic = a.maxReadAtomic
        let rc = self.api.modifyQP(self.qp, &attr, Int32(bitPattern: a.mask.rawValue))
        guard rc == 0 else { return VerbsError("ibv_modify_qp(\(self.state)→\(a.state))", rc) }
        self.state = a.state
        return nil
    }

    /// Moves to ERR: every outstanding work request completes with WR_FLUSH_ERR.
    func fail() {
        var attr = ibv_qp_attr()
        attr.qp_state = IBV_QPS_ERR
        if self.api.modifyQP(self.qp, &attr, Int32(IBV_QP_STATE.rawValue)) == 0 { self.state = .error }
    }

    func register(address: UInt, length: UInt, access: VerbsAccess) -> Result<VerbsMemoryRegion, VerbsError> {
        guard let base = UnsafeMutableRawPointer(bitPattern: address) else { return .failure(VerbsError("ibv_reg_mr", EFAULT)) }
        switch self.api.registerMR(self.pd, base, Int(length), Int32(bitPattern: access.rawValue)) {
        case .success(let mr):
            return .success(VerbsMemoryRegion(api: self.api, mr: mr, address: address, length: length, access: access))
        case .failure(let e): return .failure(e)
        }
    }

    /// Posts a signaled send-queue request: SEND, RDMA WRITE or RDMA READ. Returns 0 or an errno.
    func postSend(requestID: UInt64, kind: VerbsOperationKind, entries: [VerbsScatterGatherEntry],
                  remote: (address: UInt64, rkey: UInt32)?, fence: Bool) -> Int32 {
        var sges = entries.map { ibv_sge(addr: $0.address, length: $0.length, lkey: $0.lkey) }
        return sges.withUnsafeMutableBufferPointer { buf in
            var wr = ibv_send_wr()
            wr.wr_id = requestID
            wr.sg_list = buf.count > 0 ? buf.baseAddress : nil
            wr.num_sge = Int32(buf.count)
            switch kind {
            case .rdmaWrite: wr.opcode = IBV_WR_RDMA_WRITE
            case .rdmaRead: wr.opcode = IBV_WR_RDMA_READ
            default: wr.opcode = IBV_WR_SEND
            }
            wr.send_flags = IBV_SEND_SIGNALED.rawValue | (fence ? IBV_SEND_FENCE.rawValue : 0)
            if let remote {
                wr.wr.rdma.remote_addr = remote.address
                wr.wr.rdma.rkey = remote.rkey
            }
            return self.api.postSend(self.qp, &wr)
        }
    }

    /// Posts a receive. Returns 0 or an errno.
    func postReceive(requestID: UInt64, entries: [VerbsScatterGatherEntry]) -> Int32 {
        var sges = entries.map { ibv_sge(addr: $0.address, length: $0.length, lkey: $0.lkey) }
        return sges.withUnsafeMutableBufferPointer { buf in
            var wr = ibv_recv_wr()
            wr.wr_id = requestID
            wr.sg_list = buf.count > 0 ? buf.baseAddress : nil
            wr.num_sge = Int32(buf.count)
            return self.api.postReceive(self.qp, &wr)
        }
    }

    /// Polls up to `max` completions; an empty array when the CQ is empty (or on a poll error,
    /// which libibverbs reports only for a broken device).
    func poll(max: Int = 16) -> [VerbsWorkCompletion] {
        var wcs = [ibv_wc](repeating: ibv_wc(), count: max)
        let n = wcs.withUnsafeMutableBufferPointer { self.api.pollCQ(self.cq, Int32(max), $0.baseAddress!) }
        guard n > 0 else { return [] }
        return wcs[0..<Int(n)].map {
            VerbsWorkCompletion(requestID: $0.wr_id, status: $0.status.rawValue, byteLength: $0.byte_len,
                                vendorError: $0.vendor_err)
        }
    }

    /// Destroys QP, CQ and PD, in that order (a CQ cannot go while a QP uses it, nor a PD while
    /// it has MRs: the caller deregisters those first).
    func destroy() {
        if self.api.destroyQP(self.qp) != 0 { VerbsLog.line("ibv_destroy_qp failed; resources leak") }
        if self.api.destroyCQ(self.cq) != 0 { VerbsLog.line("ibv_destroy_cq failed; resources leak") }
        if self.api.deallocPD(self.pd) != 0 { VerbsLog.line("ibv_dealloc_pd failed; resources leak") }
    }
}
