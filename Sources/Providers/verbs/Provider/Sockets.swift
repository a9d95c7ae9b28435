import CSanABI
import Glibc
import SanCore
import SanProviderKit

/// Socket life cycle: WSPSocket, WSPBind, WSPCloseSocket, WSPCleanup, WSPEventSelect,
/// WSPEnumNetworkEvents, WSPGetSockName, WSPGetPeerName.
extension VerbsProvider {
    func socket(af: Int32, type: Int32, lpErrno: UnsafeMutablePointer<Int32>?) -> SOCKET {
        guard af == AF_INET || af == AF_INET6 else { return sanFailSocket(lpErrno, .addressFamilyNotSupported) }
        switch self.newSocket(phase: .created, selection: VerbsSelection()) {
        case .success(let sock):
            lpErrno?.pointee = 0
            return sock.value
        case .failure(let e): return sanFailSocket(lpErrno, e)
        }
    }

    /// A new socket with the switch's handle for it (WPUCreateSocketHandle, reference §3.3).
    func newSocket(phase: VerbsSocket.Phase, selection: VerbsSelection) -> Result<VerbsSocket, WSAError> {
        var failure: WSAError?
        let (value, sock) = self.sockets.insert { value in
            switch self.upcalls.createSocketHandle(context: value) {
            case .success(let sw): return VerbsSocket(value: value, switchSocket: sw, phase: phase, selection: selection)
            case .failure(let e):
                failure = e
                return VerbsSocket(value: value, switchSocket: sanInvalidSocket, phase: .closed, selection: selection)
            }
        }
        if let failure {
            _ = self.sockets.remove(value)
            return .failure(failure)
        }
        return .success(sock)
    }

    func bind(_ s: SOCKET, _ name: UnsafePointer<sockaddr>?, _ namelen: Int32, lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard let sock = self.sockets.lookup(s) else { return sanFail(lpErrno, .notSocket) }
        let address: VerbsSocketAddress
        switch VerbsSocketAddress.from(name, length: namelen) {
        case .success(let a): address = a
        case .failure(let e): return sanFail(lpErrno, e)
        }
        let ok = sock.control.withLock { c -> Bool in
            guard c.phase == .created else { return false }
            c.phase = .bound
            c.bound = address
            return true
        }
        return ok ? 0 : sanFail(lpErrno, .invalidArgument)
    }

    func closeSocket(_ s: SOCKET, lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard let sock = self.sockets.remove(s) else { return sanFail(lpErrno, .notSocket) }
        self.shutdown(sock)
        self.upcalls.closeSocketHandle(sock.switchSocket)
        return 0
    }

    /// Everything close does before WPUCloseSocketHandle: abort a connect in progress, stop a
    /// listener (refusing the peers still waiting), and tear the connection down with every
    /// pending operation completed WSA_OPERATION_ABORTED (reference §4.7).
    func shutdown(_ sock: VerbsSocket) {
        let (attempt, listener) = sock.control.withLock { c in
            let r = (c.attempt, c.listener)
            c.phase = .closed
            c.attempt = nil
            c.listener = nil
            return r
        }
        if let attempt {
            attempt.cancel.cancel()
            if let thread = attempt.thread { VerbsThread.join(thread) }
        }
        if let listener { self.stop(listener) }
        self.teardown(sock)
    }

    func cleanup(lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        let ok = self.startup.cleanup {
            for sock in self.sockets.removeAll() {
                self.shutdown(sock)
                self.upcalls.closeSocketHandle(sock.switchSocket)
            }
        }
        return ok ? 0 : sanFail(lpErrno, .notInitialised)
    }

    func eventSelect(_ s: SOCKET, event: WSAEVENT?, mask: Int32, lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard let sock = self.sockets.lookup(s) else { return sanFail(lpErrno, .notSocket) }
        sock.events.select(event: event, mask: mask, upcalls: self.upcalls)
        return 0
    }

    func enumNetworkEvents(_ s: SOCKET, event: WSAEVENT?, out: UnsafeMutablePointer<WSANETWORKEVENTS>?,
                           lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard let sock = self.sockets.lookup(s) else { return sanFail(lpErrno, .notSocket) }
        guard let out else { return sanFail(lpErrno, .fault) }
        sock.events.enumerate(into: out, reset: event, upcalls: self.upcalls)
        return 0
    }

    /// The listener's actual address (port 0 resolved), the connection's local address, or the
    /// bound one.
    func sockName(_ s: SOCKET, _ name: UnsafeMutablePointer<sockaddr>?, _ namelen: UnsafeMutablePointer<Int32>?,
                  lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard let sock = self.sockets.lookup(s) else { return sanFail(lpErrno, .notSocket) }
        let (listener, bound) = sock.control.withLock { ($0.listener, $0.bound) }
        let connected = sock.io.withLock { $0.connection?.localAddress }
        let address = listener.flatMap { VerbsSideChannel.address(of: $0.fd, peer: false) } ?? connected ?? bound
        guard let address else { return sanFail(lpErrno, .invalidArgument) }
        guard name != nil, namelen != nil else { return sanFail(lpErrno, .fault) }
        if let e = address.copy(to: name, length: namelen) { return sanFail(lpErrno, e) }
        return 0
    }

    func peerName(_ s: SOCKET, _ name: UnsafeMutablePointer<sockaddr>?, _ namelen: UnsafeMutablePointer<Int32>?,
                  lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard let sock = self.sockets.lookup(s) else { return sanFail(lpErrno, .notSocket) }
        guard let address = sock.io.withLock({ $0.connection?.peerAddress }) else { return sanFail(lpErrno, .notConnected) }
        guard name != nil, namelen != nil else { return sanFail(lpErrno, .fault) }
        if let e = address.copy(to: name, length: namelen) { return sanFail(lpErrno, e) }
        return 0
    }
}
