import CSanABI
import Glibc
import SanCore
import SanProviderKit

/// WSPSend, WSPRecv, WSPRdmaWrite, WSPRdmaRead: one signaled work request each, completed by the
/// progress thread; WSPGetOverlappedResult.
extension VerbsProvider {
    /// The remote end of an RDMA request.
    struct RemoteTarget {
        var address: UInt64
        var rkey: UInt32
    }

    func send(_ s: SOCKET, _ buffers: UnsafeMutablePointer<WSABUF>?, _ count: UInt32,
              _ lpBytes: UnsafeMutablePointer<UInt32>?, _ ov: UnsafeMutablePointer<WSAOVERLAPPED>?,
              _ lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        self.transfer(s, .send, lpBytes, ov, lpErrno) { sock in
            SanBuffers.segments(buffers, count: count, needs: .read, registrations: sock.registrations).map { ($0, nil) }
        }
    }

    func recv(_ s: SOCKET, _ buffers: UnsafeMutablePointer<WSABUF>?, _ count: UInt32,
              _ lpBytes: UnsafeMutablePointer<UInt32>?, _ lpFlags: UnsafeMutablePointer<UInt32>?,
              _ ov: UnsafeMutablePointer<WSAOVERLAPPED>?, _ lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        lpFlags?.pointee = 0
        return self.transfer(s, .receive, lpBytes, ov, lpErrno) { sock in
            SanBuffers.segments(buffers, count: count, needs: .write, registrations: sock.registrations).map { ($0, nil) }
        }
    }

    func rdma(_ s: SOCKET, _ buffers: UnsafeMutablePointer<WSABUFEX>?, _ count: UInt32,
              _ descriptor: UnsafeMutableRawPointer?, _ descriptorLength: UInt32, _ offset: UInt32,
              _ lpBytes: UnsafeMutablePointer<UInt32>?, _ ov: UnsafeMutablePointer<WSAOVERLAPPED>?,
              isWrite: Bool, _ lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        // A write reads the local buffers and needs the peer's MEM_WRITE; a read the reverse.
        let local: SanAccess = isWrite ? .read : .write
        let remote: SanAccess = isWrite ? .write : .read
        return self.transfer(s, isWrite ? .rdmaWrite : .rdmaRead, lpBytes, ov, lpErrno) { sock in
            guard case .success(let desc) = VerbsDescriptor.decode(descriptor, length: descriptorLength) else {
                return .failure(.invalidArgument)
            }
            let segments: [SanBufferSegment]
            switch SanBuffers.segments(buffers, count: count, needs: local, registrations: sock.registrations) {
            case .success(let x): segments = x
            case .failure(let e): return .failure(e)
            }
            guard let total = SanBuffers.total(segments) else { return .failure(.messageSize) }
            return desc.target(offset: offset, count: total, needs: remote).map {
                (segments, RemoteTarget(address: $0, rkey: desc.rkey))
            }
        }
    }

    /// Checks the call, then posts; without an overlapped structure waits for the completion.
    private func transfer(_ s: SOCKET, _ kind: VerbsOperationKind, _ lpBytes: UnsafeMutablePointer<UInt32>?,
                          _ ov: UnsafeMutablePointer<WSAOVERLAPPED>?, _ lpErrno: UnsafeMutablePointer<Int32>?,
                          gather: (VerbsSocket) -> Result<([SanBufferSegment], RemoteTarget?), WSAError>) -> Int32 {
        guard let sock = self.sockets.lookup(s) else { return sanFail(lpErrno, .notSocket) }
        guard sock.phase == .connected else { return sanFail(lpErrno, .notConnected) }
        let segments: [SanBufferSegment], remote: RemoteTarget?
        switch gather(sock) {
        case .success(let x): (segments, remote) = x
        case .failure(let e): return sanFail(lpErrno, e)
        }
        guard let ov else { return self.transferSynchronously(sock, kind, segments, remote, lpBytes, lpErrno) }
        if let e = self.post(sock, kind, segments, remote, ov) { return sanFail(lpErrno, e) }
        // Started: completion comes later, even if the adapter is already done (reference §3.4).
        return sanFail(lpErrno, .ioPending)
    }

    /// A call without WSAOVERLAPPED (the switch always passes one; direct callers may not): post
    /// with a private one in polling mode and wait.
    private func transferSynchronously(_ sock: VerbsSocket, _ kind: VerbsOperationKind, _ segments: [SanBufferSegment],
                                       _ remote: RemoteTarget?, _ lpBytes: UnsafeMutablePointer<UInt32>?,
                                       _ lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        let ov = UnsafeMutablePointer<WSAOVERLAPPED>.allocate(capacity: 1)
        defer { ov.deallocate() }
        ov.initialize(to: WSAOVERLAPPED())
        ov.pointee.hEvent = UnsafeMutableRawPointer(bitPattern: 1)
        if let e = self.post(sock, kind, segments, remote, ov) { return sanFail(lpErrno, e) }
        _ = self.completer.wait(ov)
        guard let outcome = self.completer.outcome(ov) else { return sanFail(lpErrno, .operationAborted) }
        if let e = outcome.error { return sanFail(lpErrno, e) }
        lpBytes?.pointee = outcome.bytes
        lpErrno?.pointee = 0
        return 0
    }

    /// Builds and posts the work request under the socket's lock (so its completion cannot be
    /// processed before it is recorded), then marks `ov` in progress.
    private func post(_ sock: VerbsSocket, _ kind: VerbsOperationKind, _ segments: [SanBufferSegment],
                      _ remote: RemoteTarget?, _ ov: UnsafeMutablePointer<WSAOVERLAPPED>) -> WSAError? {
        sock.io.withLock { d -> WSAError? in
            guard let connection = d.connection else { return .notConnected }
            if let failure = d.failure { return failure }
            let qp = connection.queuePair
            let isReceive = kind == .receive
            guard isReceive ? d.receiveOutstanding < qp.limits.receiveDepth : d.sendOutstanding < qp.limits.sendDepth else {
                return .noBuffers
            }
            let maxEntries = isReceive ? qp.limits.receiveSGE : kind == .rdmaRead ? qp.limits.readSGE : qp.limits.sendSGE
            let handleRegions = d.handleRegions, localRegions = d.localRegions
            let list: VerbsScatterGatherList
            switch VerbsScatterGather.build(segments, lkey: { h in handleRegions[h].flatMap { localRegions[$0]?.region.lkey } },
                                            maxEntries: maxEntries, maxTotal: connection.maxMessageSize) {
            case .success(let l): list = l
            case .failure(let e): return e
            }
            d.nextRequest += 1
            let id = d.nextRequest
            let fence = kind == .send && d.fenceNextSend
            let rc = isReceive
                ? qp.postReceive(requestID: id, entries: list.entries)
                : qp.postSend(requestID: id, kind: kind, entries: list.entries,
                              remote: remote.map { ($0.address, $0.rkey) }, fence: fence)
            guard rc == 0 else {
                VerbsLog.line("socket 0x\(String(sock.value, radix: 16)): posting a \(kind): \(VerbsError("ibv_post", rc))")
                return rc == ENOMEM ? .noBuffers : rc == EINVAL ? .invalidArgument : .networkDown
            }
            if fence { d.fenceNextSend = false }
            if kind == .rdmaRead { d.fenceNextSend = true }
            self.completer.begin(ov)
            let handles = Array(Set(segments.filter { $0.length > 0 }.map(\.handle)))
            for h in handles { sock.registrations.pin(h, 1) }
            d.operations[id] = VerbsSocket.PendingOperation(overlapped: UInt(bitPattern: ov), kind: kind,
                                                            postedLength: list.total, handles: handles)
            if isReceive { d.receiveOutstanding += 1 } else { d.sendOutstanding += 1 }
            return nil
        }
    }

    func getOverlappedResult(_ s: SOCKET, _ ov: UnsafeMutablePointer<WSAOVERLAPPED>?, _ lpcb: UnsafeMutablePointer<UInt32>?,
                             _ wait: Int32, _ lpFlags: UnsafeMutablePointer<UInt32>?,
                             _ lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard self.sockets.lookup(s) != nil else { return sanFailBool(lpErrno, .notSocket) }
        return self.completer.getOverlappedResult(ov, lpcb, wait: wait != 0, lpFlags, lpErrno)
    }
}
