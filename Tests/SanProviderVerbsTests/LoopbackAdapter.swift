import CIBVerbs
import CSanVerbsSupport
import Glibc
@testable import SanProviderVerbs
import Synchronization

/// A software model of one RDMA adapter, for tests only (never part of a product): one device
/// "loop0" with one active InfiniBand port, whose RC queue pairs move bytes between queue pairs
/// of this process with memcpy. It exists so the provider's own logic — the connection exchange,
/// QP set-up order, the work-request table, completion routing through the completion channel,
/// close and revocation — runs on a machine without RDMA hardware.
///
/// What it models of the verbs semantics the provider relies on (ibv_post_send(3),
/// ibv_poll_cq(3), ibv_reg_mr(3), the InfiniBand QP state table):
/// - ibv_modify_qp accepts only RESET→INIT→RTR→RTS (and anything → ERR) and only with exactly
///   the attribute mask the IB spec requires for that step; anything else is EINVAL;
/// - SEND consumes the peer's oldest posted receive, or waits for one (RNR retry 7);
/// - RDMA WRITE/READ need an rkey of a region in the peer's PD with the remote right, and the
///   range inside it; otherwise the requester completes REM_ACCESS_ERR and both QPs enter ERR;
/// - local buffers need an lkey of the QP's own PD (LOCAL_WRITE for receive and read sinks);
/// - entering ERR flushes every posted request with WR_FLUSH_ERR; a CQ raises one channel event
///   per ibv_req_notify_cq arming.
/// What it does not model: timing, packet loss, retries, MTU segmentation, atomics, and the
/// real fork/pinning rules. Passing against it is not evidence about a real adapter.
final class LoopbackAdapter: @unchecked Sendable {
    struct Region {
        var pd: UInt
        var address: UInt
        var length: UInt
        var access: UInt32
        var lkey: UInt32
        var rkey: UInt32
    }

    struct Request {
        var id: UInt64
        var opcode: UInt32
        var flags: UInt32
        var sges: [ibv_sge]
        var remoteAddress: UInt64
        var rkey: UInt32
    }

    struct QueuePair {
        var pointer: UInt
        var pd: UInt
        var cq: UInt
        var state = VerbsQueuePairState.reset
        var destination: UInt32 = 0
        var access: UInt32 = 0
        var sendPSN: UInt32 = 0
        var receivePSN: UInt32 = 0
        var receives: [Request] = []
        /// SENDs from the peer waiting for a receive here (RNR).
        var waiting: [(from: UInt32, request: Request)] = []
    }

    struct CompletionQueue {
        var context: UInt
        var channel: UInt
        var entries: [ibv_wc] = []
        var armed = false
    }

    struct Model: Sendable {
        var regions: [UInt: Region] = [:]
        var nextKey: UInt32 = 0x100
        var queuePairs: [UInt32: QueuePair] = [:]
        var nextQPN: UInt32 = 0x40
        var cqs: [UInt: CompletionQueue] = [:]
        var channelEvents: [UInt: [UInt]] = [:]
        var channelFDs: [UInt: Int32] = [:]
        var pds: Set<UInt> = []
        /// Every ibv_modify_qp: (QPN, new state, mask).
        var transitions: [(UInt32, VerbsQueuePairState, UInt32)] = []
        /// Every posted send-queue request: (QPN, opcode, send flags).
        var posted: [(UInt32, UInt32, UInt32)] = []
        var deregisteredRkeys: [UInt32] = []
    }

    let model = Mutex(Model())
    let device: UnsafeMutablePointer<ibv_device>
    let context: UnsafeMutablePointer<ibv_context>
    static let gid: [UInt8] = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42]

    init() {
        self.device = .allocate(capacity: 1)
        self.device.initialize(to: ibv_device())
        self.context = .allocate(capacity: 1)
        self.context.initialize(to: ibv_context())
    }

    static func bits<T>(_ p: UnsafeMutablePointer<T>) -> UInt { UInt(bitPattern: p) }

    // MARK: the API

    var api: VerbsAPI {
        VerbsAPI(
            getDeviceList: { [self] in .success((nil, [self.device])) },
            freeDeviceList: { _ in },
            deviceName: { _ in "loop0" },
            openDevice: { [self] _ in .success(self.context) },
            closeDevice: { _ in },
            queryDevice: { _ in
                var a = ibv_device_attr()
                a.max_qp_wr = 64
                a.max_sge = 8
                a.max_sge_rd = 4
                a.max_cqe = 256
                a.max_qp_rd_atom = 4
                a.max_qp_init_rd_atom = 4
                a.phys_port_cnt = 1
                return .success(a)
            },
            queryPort: { _, port in
                guard port == 1 else { return .failure(VerbsError("ibv_query_port", EINVAL)) }
                var a = ibv_port_attr()
                a.state = IBV_PORT_ACTIVE
                a.active_mtu = IBV_MTU_4096
                a.max_msg_sz = 1 << 31
                a.lid = 1
                a.link_layer = UInt8(IBV_LINK_LAYER_INFINIBAND)
                a.gid_tbl_len = 1
                return .success(a)
            },
            queryGIDEntry: { _, _, index in
                guard index == 0 else { return .failure(VerbsError("ibv_query_gid_ex", ENODATA)) }
                var e = ibv_gid_entry()
                withUnsafeMutableBytes(of: &e.gid) { raw in for i in 0..<16 { raw[i] = Self.gid[i] } }
                e.gid_type = UInt32(IBV_GID_TYPE_IB.rawValue)
                return .success(e)
            },
            queryGID: { _, _, index in index == 0 ? .success(Self.gid) : .failure(VerbsError("ibv_query_gid", EINVAL)) },
            allocPD: { [self] _ in
                let pd = UnsafeMutablePointer<ibv_pd>.allocate(capacity: 1)
                pd.initialize(to: ibv_pd())
                self.model.withLock { _ = $0.pds.insert(Self.bits(pd)) }
                return .success(pd)
            },
            deallocPD: { [self] pd in
                self.model.withLock { m in
                    guard !m.regions.values.contains(where: { $0.pd == Self.bits(pd) }) else { return EBUSY }
                    m.pds.remove(Self.bits(pd))
                    return 0
                }
            },
            registerMR: { [self] pd, address, length, access in self.register(pd, address, length, UInt32(access)) },
            deregisterMR: { [self] mr in
                self.model.withLock { m in
                    guard let r = m.regions.removeValue(forKey: Self.bits(mr)) else { return EINVAL }
                    m.deregisteredRkeys.append(r.rkey)
                    return 0
                }
            },
            createChannel: { [self] _ in
                let ch = UnsafeMutablePointer<ibv_comp_channel>.allocate(capacity: 1)
                ch.initialize(to: ibv_comp_channel())
                ch.pointee.fd = eventfd(0, Int32(EFD_SEMAPHORE | EFD_NONBLOCK))
                self.model.withLock { $0.channelFDs[Self.bits(ch)] = ch.pointee.fd }
                return .success(ch)
            },
            destroyChannel: { _ in 0 },
            createCQ: { [self] _, _, context, channel in
                let cq = UnsafeMutablePointer<ibv_cq>.allocate(capacity: 1)
                cq.initialize(to: ibv_cq())
                cq.pointee.cq_context = context
                self.model.withLock {
                    $0.cqs[Self.bits(cq)] = CompletionQueue(context: UInt(bitPattern: context), channel: channel.map(Self.bits) ?? 0)
                }
                return .success(cq)
            },
            destroyCQ: { [self] cq in
                self.model.withLock { m in
                    guard !m.queuePairs.values.contains(where: { $0.cq == Self.bits(cq) }) else { return EBUSY }
                    m.cqs[Self.bits(cq)] = nil
                    return 0
                }
            },
            requestNotify: { [self] cq in
                self.model.withLock { $0.cqs[Self.bits(cq)]?.armed = true }
                return 0
            },
            getCQEvent: { [self] channel in
                self.model.withLock { m -> Result<(VerbsCQ, UnsafeMutableRawPointer?), VerbsError> in
                    guard var events = m.channelEvents[Self.bits(channel)], !events.isEmpty else {
                        return .failure(VerbsError("ibv_get_cq_event", EAGAIN))
                    }
                    let cq = events.removeFirst()
                    m.channelEvents[Self.bits(channel)] = events
                    var v: UInt64 = 0
                    _ = read(channel.pointee.fd, &v, 8)
                    return .success((UnsafeMutablePointer(bitPattern: cq)!, UnsafeMutableRawPointer(bitPattern: m.cqs[cq]?.context ?? 0)))
                }
            },
            ackCQEvents: { _, _ in },
            pollCQ: { [self] cq, n, out in
                self.model.withLock { m in
                    guard var q = m.cqs[Self.bits(cq)] else { return -1 }
                    let k = min(Int(n), q.entries.count)
                    for i in 0..<k { out[i] = q.entries[i] }
                    q.entries.removeFirst(k)
                    m.cqs[Self.bits(cq)] = q
                    return Int32(k)
                }
            },
            createQP: { [self] pd, attr in
                let qp = UnsafeMutablePointer<ibv_qp>.allocate(capacity: 1)
                qp.initialize(to: ibv_qp())
                self.model.withLock { m in
                    m.nextQPN += 1
                    qp.pointee.qp_num = m.nextQPN
                    m.queuePairs[m.nextQPN] = QueuePair(pointer: Self.bits(qp), pd: Self.bits(pd),
                                                        cq: Self.bits(attr.pointee.send_cq!))
                }
                return .success(qp)
            },
            modifyQP: { [self] qp, attr, mask in self.modify(qp.pointee.qp_num, attr.pointee, UInt32(bitPattern: mask)) },
            destroyQP: { [self] qp in
                self.model.withLock { $0.queuePairs[qp.pointee.qp_num] = nil }
                return 0
            },
            postSend: { [self] qp, wr in self.model.withLock { m in Self.postSend(&m, qp.pointee.qp_num, wr.pointee) } },
            postReceive: { [self] qp, wr in self.model.withLock { m in Self.postReceive(&m, qp.pointee.qp_num, wr.pointee) } })
    }

    private func register(_ pd: VerbsPD, _ address: UnsafeMutableRawPointer, _ length: Int,
                          _ access: UInt32) -> Result<VerbsMR, VerbsError> {
        // ibv_reg_mr(3): REMOTE_WRITE requires LOCAL_WRITE.
        if access & IBV_ACCESS_REMOTE_WRITE.rawValue != 0 && access & IBV_ACCESS_LOCAL_WRITE.rawValue == 0 {
            return .failure(VerbsError("ibv_reg_mr", EINVAL))
        }
        let mr = UnsafeMutablePointer<ibv_mr>.allocate(capacity: 1)
        mr.initialize(to: ibv_mr())
        self.model.withLock { m in
            m.nextKey += 1
            mr.pointee.lkey = m.nextKey
            mr.pointee.rkey = m.nextKey | 0x8000_0000
            m.regions[Self.bits(mr)] = Region(pd: Self.bits(pd), address: UInt(bitPattern: address), length: UInt(length),
                                             access: access, lkey: mr.pointee.lkey, rkey: mr.pointee.rkey)
        }
        return .success(mr)
    }

    // MARK: QP state machine

    private func modify(_ qpn: UInt32, _ attr: ibv_qp_attr, _ mask: UInt32) -> Int32 {
        self.model.withLock { m in
            guard var q = m.queuePairs[qpn] else { return EINVAL }
            let to = VerbsQueuePairState(rawValue: attr.qp_state.rawValue)
            let required: UInt32
            switch (q.state, to) {
            case (_, .some(.error)): required = IBV_QP_STATE.rawValue
            case (.reset, .some(.initialized)):
                required = IBV_QP_STATE.rawValue | IBV_QP_PKEY_INDEX.rawValue | IBV_QP_PORT.rawValue | IBV_QP_ACCESS_FLAGS.rawValue
            case (.initialized, .some(.readyToReceive)):
                required = IBV_QP_STATE.rawValue | IBV_QP_AV.rawValue | IBV_QP_PATH_MTU.rawValue | IBV_QP_DEST_QPN.rawValue
                    | IBV_QP_RQ_PSN.rawValue | IBV_QP_MAX_DEST_RD_ATOMIC.rawValue | IBV_QP_MIN_RNR_TIMER.rawValue
            case (.readyToReceive, .some(.readyToSend)):
                required = IBV_QP_STATE.rawValue | IBV_QP_SQ_PSN.rawValue | IBV_QP_TIMEOUT.rawValue | IBV_QP_RETRY_CNT.rawValue
                    | IBV_QP_RNR_RETRY.rawValue | IBV_QP_MAX_QP_RD_ATOMIC.rawValue
            default: return EINVAL
            }
            guard mask == required, let to else { return EINVAL }
            if to == .initialized {
                guard attr.port_num == 1 else { return EINVAL }
                q.access = attr.qp_access_flags
            }
            if to == .readyToReceive {
                guard m.queuePairs[attr.dest_qp_num] != nil, attr.ah_attr.port_num == 1 else { return EINVAL }
                q.destination = attr.dest_qp_num
                q.receivePSN = attr.rq_psn
            }
            if to == .readyToSend { q.sendPSN = attr.sq_psn }
            q.state = to
            m.queuePairs[qpn] = q
            m.transitions.append((qpn, to, mask))
            if to == .error { Self.flush(&m, qpn) }
            return 0
        }
    }

    /// Enters ERR: every posted receive and every send waiting here completes flushed; sends of
    /// this QP waiting at its peer are flushed too.
    private static func flush(_ m: inout Model, _ qpn: UInt32) {
        guard var q = m.queuePairs[qpn] else { return }
        q.state = .error
        let receives = q.receives
        let waiting = q.waiting
        q.receives.removeAll()
        q.waiting.removeAll()
        m.queuePairs[qpn] = q
        for r in receives { Self.complete(&m, qpn, r.id, IBV_WC_WR_FLUSH_ERR, IBV_WC_RECV, 0) }
        for w in waiting { Self.fail(&m, w.from, w.request, IBV_WC_RETRY_EXC_ERR) }
        if var peer = m.queuePairs[q.destination] {
            let mine = peer.waiting.filter { $0.from == qpn }
            peer.waiting.removeAll { $0.from == qpn }
            m.queuePairs[q.destination] = peer
            for w in mine { Self.complete(&m, qpn, w.request.id, IBV_WC_WR_FLUSH_ERR, IBV_WC_SEND, 0) }
        }
    }

    // MARK: data movement

    private static func postReceive(_ m: inout Model, _ qpn: UInt32, _ wr: ibv_recv_wr) -> Int32 {
        guard var q = m.queuePairs[qpn], q.state != .reset else { return EINVAL }
        let r = Request(id: wr.wr_id, opcode: 0, flags: 0, sges: Self.sges(wr.sg_list, wr.num_sge), remoteAddress: 0, rkey: 0)
        if q.state == .error {
            Self.complete(&m, qpn, r.id, IBV_WC_WR_FLUSH_ERR, IBV_WC_RECV, 0)
            return 0
        }
        q.receives.append(r)
        m.queuePairs[qpn] = q
        if let w = q.waiting.first {
            m.queuePairs[qpn]!.waiting.removeFirst()
            Self.deliver(&m, from: w.from, to: qpn, w.request)
        }
        return 0
    }

    private static func postSend(_ m: inout Model, _ qpn: UInt32, _ wr: ibv_send_wr) -> Int32 {
        guard let q = m.queuePairs[qpn] else { return EINVAL }
        guard q.state == .readyToSend || q.state == .error else { return EINVAL }
        let r = Request(id: wr.wr_id, opcode: wr.opcode.rawValue, flags: wr.send_flags, sges: Self.sges(wr.sg_list, wr.num_sge),
                        remoteAddress: wr.wr.rdma.remote_addr, rkey: wr.wr.rdma.rkey)
        m.posted.append((qpn, r.opcode, r.flags))
        let opcode = r.opcode == IBV_WR_SEND.rawValue ? IBV_WC_SEND
            : r.opcode == IBV_WR_RDMA_READ.rawValue ? IBV_WC_RDMA_READ : IBV_WC_RDMA_WRITE
        if q.state == .error {
            Self.complete(&m, qpn, r.id, IBV_WC_WR_FLUSH_ERR, opcode, 0)
            return 0
        }
        guard let peer = m.queuePairs[q.destination], peer.state == .readyToSend || peer.state == .readyToReceive else {
            Self.fail(&m, qpn, r, IBV_WC_RETRY_EXC_ERR)
            return 0
        }
        switch r.opcode {
        case IBV_WR_SEND.rawValue:
            if peer.receives.isEmpty {
                m.queuePairs[q.destination]!.waiting.append((qpn, r))  // RNR: wait for a receive
            } else {
                Self.deliver(&m, from: qpn, to: q.destination, r)
            }
        case IBV_WR_RDMA_WRITE.rawValue, IBV_WR_RDMA_READ.rawValue:
            let isWrite = r.opcode == IBV_WR_RDMA_WRITE.rawValue
            let right = isWrite ? IBV_ACCESS_REMOTE_WRITE.rawValue : IBV_ACCESS_REMOTE_READ.rawValue
            let total = r.sges.reduce(0) { $0 + UInt($1.length) }
            guard peer.access & right != 0,
                  let target = m.regions.values.first(where: { $0.rkey == r.rkey && $0.pd == peer.pd }),
                  target.access & right != 0, UInt(r.remoteAddress) >= target.address,
                  UInt(r.remoteAddress) + total <= target.address + target.length,
                  Self.localOK(m, q.pd, r.sges, needsWrite: !isWrite) else {
                Self.fail(&m, qpn, r, IBV_WC_REM_ACCESS_ERR)
                return 0
            }
            var remote = UnsafeMutableRawPointer(bitPattern: UInt(r.remoteAddress))!
            for s in r.sges {
                let local = UnsafeMutableRawPointer(bitPattern: UInt(s.addr))!
                if isWrite { remote.copyMemory(from: local, byteCount: Int(s.length)) } else {
                    local.copyMemory(from: remote, byteCount: Int(s.length))
                }
                remote += Int(s.length)
            }
            Self.complete(&m, qpn, r.id, IBV_WC_SUCCESS, isWrite ? IBV_WC_RDMA_WRITE : IBV_WC_RDMA_READ,
                          isWrite ? 0 : UInt32(total))
        default:
            return EINVAL
        }
        return 0
    }

    /// SEND into the oldest receive of `to`.
    private static func deliver(_ m: inout Model, from: UInt32, to: UInt32, _ r: Request) {
        guard let sender = m.queuePairs[from], var receiver = m.queuePairs[to], !receiver.receives.isEmpty else { return }
        let sink = receiver.receives.removeFirst()
        m.queuePairs[to] = receiver
        let data = r.sges.flatMap { s in Array(UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: UInt(s.addr)), count: Int(s.length))) }
        let capacity = sink.sges.reduce(0) { $0 + Int($1.length) }
        guard Self.localOK(m, sender.pd, r.sges, needsWrite: false), Self.localOK(m, receiver.pd, sink.sges, needsWrite: true),
              data.count <= capacity else {
            Self.complete(&m, to, sink.id, IBV_WC_LOC_LEN_ERR, IBV_WC_RECV, 0)
            Self.fail(&m, from, r, IBV_WC_REM_INV_REQ_ERR)
            Self.flush(&m, to)
            return
        }
        var offset = 0
        for s in sink.sges where offset < data.count {
            let n = min(Int(s.length), data.count - offset)
            data[offset..<offset + n].withUnsafeBytes {
                UnsafeMutableRawPointer(bitPattern: UInt(s.addr))!.copyMemory(from: $0.baseAddress!, byteCount: n)
            }
            offset += n
        }
        Self.complete(&m, to, sink.id, IBV_WC_SUCCESS, IBV_WC_RECV, UInt32(data.count))
        Self.complete(&m, from, r.id, IBV_WC_SUCCESS, IBV_WC_SEND, 0)
    }

    private static func localOK(_ m: Model, _ pd: UInt, _ sges: [ibv_sge], needsWrite: Bool) -> Bool {
        sges.allSatisfy { s in
            m.regions.values.contains {
                $0.lkey == s.lkey && $0.pd == pd && UInt(s.addr) >= $0.address
                    && UInt(s.addr) + UInt(s.length) <= $0.address + $0.length
                    && (!needsWrite || $0.access & IBV_ACCESS_LOCAL_WRITE.rawValue != 0)
            }
        }
    }

    /// A fatal completion: the request fails with `status` and the QP enters ERR.
    private static func fail(_ m: inout Model, _ qpn: UInt32, _ r: Request, _ status: ibv_wc_status) {
        Self.complete(&m, qpn, r.id, status, IBV_WC_SEND, 0)
        Self.flush(&m, qpn)
    }

    private static func complete(_ m: inout Model, _ qpn: UInt32, _ id: UInt64, _ status: ibv_wc_status, _ opcode: ibv_wc_opcode,
                                 _ bytes: UInt32) {
        guard let cq = m.queuePairs[qpn]?.cq, var q = m.cqs[cq] else { return }
        var wc = ibv_wc()
        wc.wr_id = id
        wc.status = status
        wc.opcode = opcode
        wc.byte_len = bytes
        wc.qp_num = qpn
        q.entries.append(wc)
        if q.armed {
            q.armed = false
            m.channelEvents[q.channel, default: []].append(cq)
            if let fd = m.channelFDs[q.channel] {
                var one: UInt64 = 1
                _ = write(fd, &one, 8)
            }
        }
        m.cqs[cq] = q
    }

    private static func sges(_ list: UnsafeMutablePointer<ibv_sge>?, _ n: Int32) -> [ibv_sge] {
        guard let list, n > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: list, count: Int(n)))
    }
}
