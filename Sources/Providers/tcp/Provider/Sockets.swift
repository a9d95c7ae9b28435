import CSanABI
import CSanTCP
import Glibc
import SanCore
import SanProviderKit

/// Socket life cycle: WSPSocket, WSPBind, WSPListen, WSPConnect, WSPAccept, WSPCloseSocket,
/// WSPEventSelect, WSPEnumNetworkEvents, WSPGetSockName, WSPGetPeerName, WSPCleanup.
extension TCPProvider {
    func socket(af: Int32, type: Int32, lpErrno: UnsafeMutablePointer<Int32>?) -> SOCKET {
        guard af == AF_INET || af == AF_INET6 else { return sanFailSocket(lpErrno, .addressFamilyNotSupported) }
        guard type == Int32(SOCK_STREAM.rawValue) || type == 0 else {
            return sanFailSocket(lpErrno, WSAError(WSAESOCKTNOSUPPORT))
        }
        let raw: Int32
        switch Sys.socket(family: af) {
        case .success(let fd): raw = fd
        case .failure(let e): return sanFailSocket(lpErrno, sanWSAError(errno: e.code))
        }
        Sys.setNoDelay(raw)
        Sys.setReuseAddress(raw)
        return self.newSocket(family: af, lpErrno: lpErrno) { _ in .created(OwnedFD(raw)) }
    }

    /// Creates a provider socket with its switch handle (WPUCreateSocketHandle, context = our
    /// SOCKET value) in the phase `make` returns.
    func newSocket(family: Int32, lpErrno: UnsafeMutablePointer<Int32>?,
                   _ make: (SocketContext) -> TCPSocket.Phase) -> SOCKET {
        let upcalls = self.upcalls
        var failure: WSAError?
        let (value, _) = self.sockets.insert { value in
            switch upcalls.createSocketHandle(context: value) {
            case .success(let sw):
                let context = SocketContext(value: value, switchSocket: sw, upcalls: upcalls)
                return TCPSocket(context: context, family: family, phase: make(context))
            case .failure(let e):
                failure = e
                let context = SocketContext(value: value, switchSocket: sanInvalidSocket, upcalls: upcalls)
                return TCPSocket(context: context, family: family, phase: .closed)
            }
        }
        if let failure {
            _ = self.sockets.remove(value)
            return sanFailSocket(lpErrno, failure)
        }
        lpErrno?.pointee = 0
        return value
    }

    func bind(_ s: SOCKET, _ name: UnsafePointer<sockaddr>?, _ length: Int32, lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard let sock = self.sockets.lookup(s) else { return sanFail(lpErrno, .notSocket) }
        guard let name, length >= Int32(MemoryLayout<sockaddr_in>.size) else { return sanFail(lpErrno, .fault) }
        let error = sock.phase.withLock { p -> WSAError? in
            guard case .created(let fd) = p else { return .invalidArgument }
            guard Int32(name.pointee.sa_family) == sock.family else { return .addressFamilyNotSupported }
            if let e = Sys.bind(fd.raw, name, length) { return sanWSAError(errno: e) }
            p = .bound(fd)
            return nil
        }
        if let error { return sanFail(lpErrno, error) }
        lpErrno?.pointee = 0
        return 0
    }

    func listen(_ s: SOCKET, backlog: Int32, lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard let sock = self.sockets.lookup(s) else { return sanFail(lpErrno, .notSocket) }
        let wanted = Int(min(max(backlog, 1), 1024))
        let error = sock.phase.withLock { p -> WSAError? in
            switch p {
            case .listening(let l):
                l.setBacklog(wanted)
                return nil
            case .bound(let fd):
                // The kernel queue is deep; the SAN backlog (connections waiting for WSPAccept)
                // is enforced by the listener, which refuses the peer itself when it is full.
                if let e = Sys.listen(fd.raw, backlog: 1024) { return sanWSAError(errno: e) }
                let listener = Listener(provider: self, context: sock.context, fd: fd, backlog: wanted)
                if let e = listener.activate() { return sanWSAError(errno: e) }
                p = .listening(listener)
                return nil
            default:
                return .invalidArgument
            }
        }
        if let error { return sanFail(lpErrno, error) }
        lpErrno?.pointee = 0
        return 0
    }

    func connect(_ s: SOCKET, _ name: UnsafePointer<sockaddr>?, _ length: Int32,
                 lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard let sock = self.sockets.lookup(s) else { return sanFail(lpErrno, .notSocket) }
        guard let name, length >= Int32(MemoryLayout<sockaddr_in>.size) else { return sanFail(lpErrno, .fault) }
        guard Int32(name.pointee.sa_family) == sock.family else { return sanFail(lpErrno, .addressFamilyNotSupported) }
        // Nonblocking exactly when the switch selected FD_CONNECT first (reference §4.2).
        let blocking = sock.context.events.mask & FD_CONNECT == 0
        let started = sock.phase.withLock { p -> Result<Connector, WSAError> in
            switch p {
            case .created(let fd), .bound(let fd):
                let connector = Connector(provider: self, socket: sock, fd: fd, blocking: blocking)
                p = .connecting(connector)
                return .success(connector)
            case .connected: return .failure(.isConnected)
            case .connecting: return .failure(.already)
            case .listening, .failed, .closed: return .failure(.invalidArgument)
            }
        }
        let connector: Connector
        switch started {
        case .success(let c): connector = c
        case .failure(let e): return sanFail(lpErrno, e)
        }
        if let e = connector.start(name, length) {
            sock.phase.withLock { $0 = .failed(e) }
            return sanFail(lpErrno, e)
        }
        guard blocking else { return sanFail(lpErrno, .wouldBlock) }
        connector.latch.wait()
        if let e = connector.result { return sanFail(lpErrno, e) }
        lpErrno?.pointee = 0
        return 0
    }

    func accept(_ s: SOCKET, addr: UnsafeMutablePointer<sockaddr>?, addrlen: UnsafeMutablePointer<Int32>?,
                condition: LPCONDITIONPROC?, context: UInt, lpErrno: UnsafeMutablePointer<Int32>?) -> SOCKET {
        guard let sock = self.sockets.lookup(s) else { return sanFailSocket(lpErrno, .notSocket) }
        let listener = sock.phase.withLock { p -> Listener? in
            if case .listening(let l) = p { return l } else { return nil }
        }
        guard let listener else { return sanFailSocket(lpErrno, .invalidArgument) }
        guard let (incoming, more) = listener.takeReady() else { return sanFailSocket(lpErrno, .wouldBlock) }
        if more {
            sock.context.signal(bit: FD_ACCEPT_BIT, error: nil)
        } else {
            sock.context.events.clear(bit: FD_ACCEPT_BIT)
        }
        var peer = incoming.peer
        if let condition {
            // On the caller's thread, before returning (reference §4.2).
            let verdict = peer.withUnsafeMutableBytes { raw -> Int32 in
                var callerId = WSABUF(len: UInt32(raw.count), buf: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
                var group: GROUP = 0
                return condition(&callerId, nil, nil, nil, nil, nil, &group, context)
            }
            guard verdict == CF_ACCEPT else {
                incoming.reply(.refuse, nonce: .zero, maxMessageSize: self.config.maxMessageSize)
                return sanFailSocket(lpErrno, .connectionRefused)
            }
        }
        guard let hello = incoming.message else { return sanFailSocket(lpErrno, .connectionAborted) }
        let nonce = Sys.randomKey()
        var connection: Connection?
        let value = self.newSocket(family: sock.family, lpErrno: lpErrno) { ctx in
            let c = Connection(provider: self, context: ctx, fd: incoming.fd, id: hello.nonce ^ nonce,
                               peerMaxMessageSize: hello.maxMessageSize)
            connection = c
            return .connected(c)
        }
        guard value != sanInvalidSocket, let connection else {
            incoming.reply(.refuse, nonce: .zero, maxMessageSize: self.config.maxMessageSize)
            return sanInvalidSocket
        }
        guard connection.activate() else {
            incoming.reply(.refuse, nonce: .zero, maxMessageSize: self.config.maxMessageSize)
            _ = self.closeSocket(value, lpErrno: nil)
            return sanFailSocket(lpErrno, .networkDown)
        }
        incoming.reply(.accept, nonce: nonce, maxMessageSize: self.config.maxMessageSize)
        if let addr, let addrlen, addrlen.pointee >= Int32(peer.count) {
            peer.withUnsafeBytes { UnsafeMutableRawPointer(addr).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            addrlen.pointee = Int32(peer.count)
        }
        lpErrno?.pointee = 0
        return value
    }

    func closeSocket(_ s: SOCKET, lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard let sock = self.sockets.remove(s) else { return sanFail(lpErrno, .notSocket) }
        self.close(sock)
        lpErrno?.pointee = 0
        return 0
    }

    /// Closes a socket already removed from the table. WPUCloseSocketHandle is its last upcall.
    func close(_ sock: TCPSocket) {
        let prior = sock.phase.withLock { p -> TCPSocket.Phase in
            let old = p
            p = .closed
            return old
        }
        switch prior {
        case .connected(let connection):
            connection.close()
            return
        case .listening(let listener):
            listener.close()
        case .connecting(let connector):
            connector.cancel()
        case .created, .bound, .failed, .closed:
            break
        }
        sock.context.gate.beginClose()
        sock.context.gate.waitForOtherThreads()
        sock.context.leaveGate()
    }

    func eventSelect(_ s: SOCKET, event: WSAEVENT?, mask: Int32, lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard let sock = self.sockets.lookup(s) else { return sanFail(lpErrno, .notSocket) }
        sock.context.events.select(event: event, mask: mask, upcalls: sock.context.upcalls)
        lpErrno?.pointee = 0
        return 0
    }

    func enumNetworkEvents(_ s: SOCKET, event: WSAEVENT?, out: UnsafeMutablePointer<WSANETWORKEVENTS>?,
                           lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard let sock = self.sockets.lookup(s) else { return sanFail(lpErrno, .notSocket) }
        guard let out else { return sanFail(lpErrno, .fault) }
        sock.context.events.enumerate(into: out, reset: event, upcalls: sock.context.upcalls)
        lpErrno?.pointee = 0
        return 0
    }

    /// WSPGetSockName (peer: false) and WSPGetPeerName (peer: true).
    func name(_ s: SOCKET, peer: Bool, _ out: UnsafeMutablePointer<sockaddr>?, _ length: UnsafeMutablePointer<Int32>?,
              lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard let sock = self.sockets.lookup(s) else { return sanFail(lpErrno, .notSocket) }
        guard let out, let length else { return sanFail(lpErrno, .fault) }
        guard let fd = sock.fd else { return sanFail(lpErrno, .invalidArgument) }
        if peer, sock.connection == nil { return sanFail(lpErrno, .notConnected) }
        switch Sys.name(fd, peer: peer) {
        case .failure(let e):
            return sanFail(lpErrno, sanWSAError(errno: e.code))
        case .success(let bytes):
            if !peer, bytes.count >= 4, bytes[2] == 0, bytes[3] == 0, case .created = sock.phase.withLock({ $0 }) {
                return sanFail(lpErrno, .invalidArgument)  // never bound: no name yet
            }
            guard length.pointee >= Int32(bytes.count) else { return sanFail(lpErrno, .fault) }
            bytes.withUnsafeBytes { UnsafeMutableRawPointer(out).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            length.pointee = Int32(bytes.count)
            lpErrno?.pointee = 0
            return 0
        }
    }

    func cleanup(lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        let ok = self.startup.cleanup {
            let all = self.sockets.removeAll()
            // End every connection first, so each one's operations fail with
            // WSA_OPERATION_ABORTED rather than with the orderly close of a sibling socket.
            for sock in all { sock.connection?.setTerminal(.operationAborted) }
            for sock in all { self.close(sock) }
        }
        return ok ? 0 : sanFail(lpErrno, .notInitialised)
    }
}
