import Glibc
import CSanABI
import SanCore
import SanProviderKit

/// Socket life cycle: WSPSocket, WSPBind, WSPListen, WSPConnect, WSPAccept, WSPCloseSocket,
/// WSPEventSelect, WSPEnumNetworkEvents.
extension NullProvider {
    func socket(af: Int32, type: Int32, lpErrno: UnsafeMutablePointer<Int32>?) -> SOCKET {
        guard af == AF_INET || af == AF_INET6 else { return sanFailSocket(lpErrno, .addressFamilyNotSupported) }
        return self.newSocket(phase: .created, lpErrno: lpErrno)
    }

    func newSocket(phase: NullSocket.Phase, lpErrno: UnsafeMutablePointer<Int32>?) -> SOCKET {
        var failure: WSAError?
        let (value, _) = self.sockets.insert { value in
            switch self.upcalls.createSocketHandle(context: value) {
            case .success(let sw): return NullSocket(value: value, switchSocket: sw, phase: phase)
            case .failure(let e):
                failure = e
                return NullSocket(value: value, switchSocket: sanInvalidSocket, phase: .closed)
            }
        }
        if let failure {
            _ = self.sockets.remove(value)
            return sanFailSocket(lpErrno, failure)
        }
        lpErrno?.pointee = 0
        return value
    }

    func bind(_ s: SOCKET, lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard let sock = self.sockets.lookup(s) else { return sanFail(lpErrno, .notSocket) }
        let ok = sock.phase.withLock { p -> Bool in
            guard p == .created else { return false }
            p = .bound
            return true
        }
        return ok ? 0 : sanFail(lpErrno, .invalidArgument)
    }

    func listen(_ s: SOCKET, lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard let sock = self.sockets.lookup(s) else { return sanFail(lpErrno, .notSocket) }
        let ok = sock.phase.withLock { p -> Bool in
            guard p == .bound || p == .listening else { return false }
            p = .listening
            return true
        }
        guard ok else { return sanFail(lpErrno, .invalidArgument) }
        // A phantom peer is always waiting to be accepted.
        sock.events.signal(bit: FD_ACCEPT_BIT, error: nil, upcalls: self.upcalls)
        return 0
    }

    func connect(_ s: SOCKET, lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard let sock = self.sockets.lookup(s) else { return sanFail(lpErrno, .notSocket) }
        let prior = sock.phase.withLock { p -> NullSocket.Phase in
            let old = p
            if p == .created || p == .bound { p = .connected }
            return old
        }
        switch prior {
        case .connected: return sanFail(lpErrno, .isConnected)
        case .listening, .closed: return sanFail(lpErrno, .invalidArgument)
        case .created, .bound: break
        }
        // Nonblocking when FD_CONNECT is selected (reference §4.2): report through the event.
        if sock.events.mask & FD_CONNECT != 0 {
            sock.events.signal(bit: FD_CONNECT_BIT, error: nil, upcalls: self.upcalls)
            return sanFail(lpErrno, .wouldBlock)
        }
        return 0
    }

    func accept(_ s: SOCKET, addr: UnsafeMutablePointer<sockaddr>?, addrlen: UnsafeMutablePointer<Int32>?,
                condition: LPCONDITIONPROC?, context: UInt, lpErrno: UnsafeMutablePointer<Int32>?) -> SOCKET {
        guard let sock = self.sockets.lookup(s) else { return sanFailSocket(lpErrno, .notSocket) }
        guard sock.phase.withLock({ $0 }) == .listening else { return sanFailSocket(lpErrno, .invalidArgument) }
        var peer = sockaddr_in()
        peer.sin_family = sa_family_t(AF_INET)
        peer.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        if let condition {
            // The condition function runs on the caller's thread before WSPAccept returns (reference §4.2).
            let verdict = withUnsafeMutableBytes(of: &peer) { raw -> Int32 in
                var callerId = WSABUF(len: UInt32(raw.count), buf: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
                var group: GROUP = 0
                return condition(&callerId, nil, nil, nil, nil, nil, &group, context)
            }
            if verdict != CF_ACCEPT { return sanFailSocket(lpErrno, .connectionRefused) }
        }
        if let addr, let addrlen, addrlen.pointee >= Int32(MemoryLayout<sockaddr_in>.size) {
            withUnsafeBytes(of: &peer) { UnsafeMutableRawPointer(addr).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            addrlen.pointee = Int32(MemoryLayout<sockaddr_in>.size)
        }
        let value = self.newSocket(phase: .connected, lpErrno: lpErrno)
        // Another phantom peer is waiting at once.
        sock.events.signal(bit: FD_ACCEPT_BIT, error: nil, upcalls: self.upcalls)
        return value
    }

    func closeSocket(_ s: SOCKET, lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard let sock = self.sockets.remove(s) else { return sanFail(lpErrno, .notSocket) }
        sock.phase.withLock { $0 = .closed }
        sock.registrations.removeAll()
        self.rdma.withLock { r in r.regions = r.regions.filter { $0.value.socket != s } }
        self.upcalls.closeSocketHandle(sock.switchSocket)
        return 0
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

    func cleanup(lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        let ok = self.startup.cleanup {
            for sock in self.sockets.removeAll() { self.upcalls.closeSocketHandle(sock.switchSocket) }
        }
        return ok ? 0 : sanFail(lpErrno, .notInitialised)
    }
}
