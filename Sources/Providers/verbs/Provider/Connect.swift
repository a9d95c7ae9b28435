import CSanABI
import Glibc
import SanCore
import SanProviderKit

/// WSPConnect (reference §4.2): blocking, or — when FD_CONNECT is selected — on a thread of its
/// own, returning WSAEWOULDBLOCK and reporting through FD_CONNECT.
extension VerbsProvider {
    func connect(_ s: SOCKET, _ name: UnsafePointer<sockaddr>?, _ namelen: Int32,
                 lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard let sock = self.sockets.lookup(s) else { return sanFail(lpErrno, .notSocket) }
        let address: VerbsSocketAddress
        switch VerbsSocketAddress.from(name, length: namelen) {
        case .success(let a): address = a
        case .failure(let e): return sanFail(lpErrno, e)
        }
        guard let cancel = VerbsSideChannel.Cancel() else { return sanFail(lpErrno, .noBuffers) }
        let nonblocking = sock.events.mask & FD_CONNECT != 0
        // Claim the socket and, when nonblocking, start the thread under the same lock, so a
        // concurrent close always finds the thread to cancel and join.
        let claim = sock.control.withLock { c -> Result<VerbsSelection, WSAError> in
            switch c.phase {
            case .created, .bound: break
            case .connecting: return .failure(.already)
            case .connected: return .failure(.isConnected)
            case .listening, .closed: return .failure(.invalidArgument)
            }
            // A failed earlier attempt's thread has finished its work; reap it.
            if let old = c.attempt?.thread { VerbsThread.join(old) }
            let selection = c.selection
            var thread: pthread_t?
            if nonblocking {
                thread = VerbsThread.spawn { [self] in
                    let result = self.establish(sock, to: address, selection: selection, cancel: cancel)
                    self.finishConnect(sock, result, signal: true)
                }
                guard thread != nil else { return .failure(.noBuffers) }
            }
            c.phase = .connecting
            c.attempt = (cancel, thread)
            return .success(selection)
        }
        let selection: VerbsSelection
        switch claim {
        case .success(let x): selection = x
        case .failure(let e): return sanFail(lpErrno, e)
        }
        if nonblocking { return sanFail(lpErrno, .wouldBlock) }
        let result = self.establish(sock, to: address, selection: selection, cancel: cancel)
        if let e = self.finishConnect(sock, result, signal: false) { return sanFail(lpErrno, e) }
        return 0
    }

    /// The initiator's side of the exchange: QP to INIT, TCP connect, request → accept | reject,
    /// QP to RTS, ready.
    private func establish(_ sock: VerbsSocket, to address: VerbsSocketAddress, selection: VerbsSelection,
                           cancel: VerbsSideChannel.Cancel) -> Result<VerbsConnection, WSAError> {
        let prepared: PreparedQueuePair
        switch self.prepareQueuePair(selection, tag: sock.value) {
        case .success(let p): prepared = p
        case .failure(let e): return .failure(e)
        }
        let fd: Int32
        switch VerbsSideChannel.connect(to: address, cancel: cancel) {
        case .success(let x): fd = x
        case .failure(let e):
            prepared.queuePair.destroy()
            return .failure(e)
        }
        func fail(_ e: WSAError) -> Result<VerbsConnection, WSAError> {
            prepared.queuePair.destroy()
            close(fd)
            return .failure(e)
        }
        if let e = VerbsSideChannel.send(VerbsConnectMessage(kind: .request, endpoint: prepared.local.endpoint), on: fd,
                                         cancel: cancel) {
            return fail(e)
        }
        let reply: VerbsConnectMessage
        switch VerbsSideChannel.receive(on: fd, cancel: cancel) {
        case .success(let m): reply = m
        case .failure(let e): return fail(e)
        }
        switch reply.kind {
        case .accept: break
        case .reject: return fail(WSAError(reply.status))
        case .request, .ready: return fail(.connectionAborted)
        }
        if let e = self.bringUp(prepared, peer: reply.endpoint) {
            _ = VerbsSideChannel.send(.reject(e.rawValue), on: fd, cancel: nil)
            return fail(e)
        }
        if let e = VerbsSideChannel.send(VerbsConnectMessage(kind: .ready), on: fd, cancel: cancel) { return fail(e) }
        return .success(self.connection(prepared, peer: reply.endpoint, sideChannel: fd))
    }

    /// Publishes a connect's outcome, unless the socket was closed meanwhile (then the new
    /// connection is torn down here and nothing is signalled). Returns the error to report.
    @discardableResult
    private func finishConnect(_ sock: VerbsSocket, _ result: Result<VerbsConnection, WSAError>, signal: Bool) -> WSAError? {
        let current = sock.control.withLock { c -> Bool in
            guard c.phase == .connecting else { return false }
            switch result {
            case .success(let connection):
                sock.io.withLock {
                    $0.connection = connection
                    $0.failure = nil
                }
                c.phase = .connected
                _ = connection.progress.watch(fd: connection.sideChannel, tag: sock.value)
            case .failure:
                c.phase = c.bound == nil ? .created : .bound
            }
            return true
        }
        let error: WSAError?
        switch result {
        case .success(let connection):
            if !current { self.destroy(connection) }
            error = current ? nil : .operationAborted
        case .failure(let e):
            error = e
        }
        if signal && current { sock.events.signal(bit: FD_CONNECT_BIT, error: error, upcalls: self.upcalls) }
        return error
    }
}
