import CSanABI
import Glibc
import SanCore
import SanProviderKit

/// WSPListen and WSPAccept (reference §4.2). A listener thread accepts TCP connections and reads
/// each initiator's request; requests wait (at most `backlog` of them, further ones are refused)
/// until the switch calls WSPAccept, which runs the condition function on its own thread and only
/// then creates, connects and announces the queue pair.
extension VerbsProvider {
    /// How long a new TCP connection may take to send its request.
    static let requestTimeoutMilliseconds: Int32 = 5_000

    func listen(_ s: SOCKET, backlog: Int32, lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard let sock = self.sockets.lookup(s) else { return sanFail(lpErrno, .notSocket) }
        let (phase, bound, selection) = sock.control.withLock { ($0.phase, $0.bound, $0.selection) }
        if phase == .listening { return 0 }
        guard phase == .bound, let bound else { return sanFail(lpErrno, .invalidArgument) }
        // A bad device option fails here, where the switch can still fall back to TCP.
        if let e = self.check(selection) { return sanFail(lpErrno, e) }
        guard let cancel = VerbsSideChannel.Cancel() else { return sanFail(lpErrno, .noBuffers) }
        let depth = Int(min(max(backlog, 1), 64))
        let fd: Int32
        switch VerbsSideChannel.listen(at: bound, backlog: Int32(depth)) {
        case .success(let x): fd = x
        case .failure(let e): return sanFail(lpErrno, e)
        }
        let listener = VerbsListener(fd: fd, backlog: depth, cancel: cancel, selection: selection)
        let started = sock.control.withLock { c -> Bool in
            guard c.phase == .bound else { return false }
            guard let thread = VerbsThread.spawn({ [self] in self.acceptLoop(sock, listener) }) else { return false }
            listener.thread.withLock { $0 = thread }
            c.phase = .listening
            c.listener = listener
            return true
        }
        guard started else {
            close(fd)
            return sanFail(lpErrno, .noBuffers)
        }
        return 0
    }

    /// The listener thread: TCP accept, read the request, queue it, signal FD_ACCEPT.
    private func acceptLoop(_ sock: VerbsSocket, _ listener: VerbsListener) {
        while true {
            let fd: Int32, address: VerbsSocketAddress
            switch VerbsSideChannel.accept(listener.fd, cancel: listener.cancel) {
            case .success(let x): (fd, address) = x
            case .failure(.operationAborted): return
            case .failure:
                usleep(10_000)  // EMFILE and the like: try again shortly
                continue
            }
            let request: VerbsEndpoint
            switch VerbsSideChannel.receive(on: fd, cancel: listener.cancel, timeoutMilliseconds: Self.requestTimeoutMilliseconds) {
            case .success(let m) where m.kind == .request: request = m.endpoint
            case .success, .failure:
                close(fd)
                continue
            }
            let queued = listener.pending.withLock { p -> Bool in
                guard p.count < listener.backlog else { return false }
                p.append(VerbsListener.Pending(fd: fd, address: address, request: request))
                return true
            }
            guard queued else {
                // Backlog full: the provider refuses the peer itself, with no signal (reference §4.2).
                self.refuse(fd, .connectionRefused)
                continue
            }
            sock.events.signal(bit: FD_ACCEPT_BIT, error: nil, upcalls: self.upcalls)
        }
    }

    /// Stops a listener (close): no more accepts, waiting peers refused.
    func stop(_ listener: VerbsListener) {
        listener.cancel.cancel()
        if let thread = listener.thread.withLock({ $0 }) { VerbsThread.join(thread) }
        close(listener.fd)
        for p in listener.pending.withLock({ p in defer { p.removeAll() }; return p }) { self.refuse(p.fd, .connectionRefused) }
    }

    /// Sends a reject (the peer's WSPConnect reports `error`) and closes the side channel.
    func refuse(_ fd: Int32, _ error: WSAError) {
        _ = VerbsSideChannel.send(.reject(error.rawValue), on: fd, cancel: nil)
        close(fd)
    }

    func accept(_ s: SOCKET, addr: UnsafeMutablePointer<sockaddr>?, addrlen: UnsafeMutablePointer<Int32>?,
                condition: LPCONDITIONPROC?, context: UInt, lpErrno: UnsafeMutablePointer<Int32>?) -> SOCKET {
        guard let sock = self.sockets.lookup(s) else { return sanFailSocket(lpErrno, .notSocket) }
        guard let listener = sock.control.withLock({ $0.phase == .listening ? $0.listener : nil }) else {
            return sanFailSocket(lpErrno, .invalidArgument)
        }
        guard let peer = listener.pending.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else {
            return sanFailSocket(lpErrno, .wouldBlock)
        }
        defer { self.refreshAcceptEvent(sock, listener) }
        if addr != nil, let addrlen, Int(addrlen.pointee) < peer.address.bytes.count {
            listener.pending.withLock { $0.insert(peer, at: 0) }
            return sanFailSocket(lpErrno, .fault)
        }
        if let condition {
            // On the caller's thread, before returning (reference §4.2). The caller id is the
            // initiator's address.
            var callerAddress = peer.address.bytes
            let verdict = callerAddress.withUnsafeMutableBytes { raw -> Int32 in
                var callerId = WSABUF(len: UInt32(raw.count), buf: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
                var group: GROUP = 0
                return condition(&callerId, nil, nil, nil, nil, nil, &group, context)
            }
            guard verdict == CF_ACCEPT else {
                self.refuse(peer.fd, .connectionRefused)
                return sanFailSocket(lpErrno, .connectionRefused)
            }
        }
        let accepted: VerbsSocket
        switch self.newSocket(phase: .connecting, selection: listener.selection) {
        case .success(let x): accepted = x
        case .failure(let e):
            self.refuse(peer.fd, .connectionRefused)
            return sanFailSocket(lpErrno, e)
        }
        if let e = self.answer(peer, listener: listener, into: accepted) {
            _ = self.sockets.remove(accepted.value)
            self.upcalls.closeSocketHandle(accepted.switchSocket)
            return sanFailSocket(lpErrno, e)
        }
        _ = peer.address.copy(to: addr, length: addrlen)  // fits: checked above
        lpErrno?.pointee = 0
        return accepted.value
    }

    /// The responder's side of the exchange: QP to RTS towards the request, accept, wait for
    /// ready. Consumes `peer.fd` (kept as the connection's side channel, or closed).
    private func answer(_ peer: VerbsListener.Pending, listener: VerbsListener, into sock: VerbsSocket) -> WSAError? {
        let prepared: PreparedQueuePair
        switch self.prepareQueuePair(listener.selection, tag: sock.value) {
        case .success(let p): prepared = p
        case .failure(let e):
            self.refuse(peer.fd, e)
            return e
        }
        func fail(_ e: WSAError, tell: Bool) -> WSAError {
            prepared.queuePair.destroy()
            if tell { self.refuse(peer.fd, e) } else { close(peer.fd) }
            return e
        }
        if let e = self.bringUp(prepared, peer: peer.request) { return fail(e, tell: true) }
        if let e = VerbsSideChannel.send(VerbsConnectMessage(kind: .accept, endpoint: prepared.local.endpoint), on: peer.fd,
                                         cancel: listener.cancel) {
            return fail(e == .operationAborted ? e : .connectionAborted, tell: false)
        }
        switch VerbsSideChannel.receive(on: peer.fd, cancel: listener.cancel) {
        case .success(let m) where m.kind == .ready: break
        case .success(let m) where m.kind == .reject: return fail(WSAError(m.status), tell: false)
        case .success: return fail(.connectionAborted, tell: false)
        case .failure(let e): return fail(e == .operationAborted ? e : .connectionAborted, tell: false)
        }
        let connection = self.connection(prepared, peer: peer.request, sideChannel: peer.fd)
        sock.control.withLock { c in
            sock.io.withLock { $0.connection = connection }
            c.phase = .connected
        }
        _ = connection.progress.watch(fd: connection.sideChannel, tag: sock.value)
        return nil
    }

    /// FD_ACCEPT stays signalled while requests wait (the switch accepts one per signal).
    private func refreshAcceptEvent(_ sock: VerbsSocket, _ listener: VerbsListener) {
        if listener.pending.withLock({ $0.isEmpty }) {
            sock.events.clear(bit: FD_ACCEPT_BIT)
        } else {
            sock.events.signal(bit: FD_ACCEPT_BIT, error: nil, upcalls: self.upcalls)
        }
    }
}
