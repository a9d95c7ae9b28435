#if canImport(Glibc)
import Glibc
#endif
import CSanABI
import SanCore

/// A provider socket, with the SPI calls a switch makes on it (reference §4.2–§4.4), each
/// throwing ``SanSwitchError/call(function:error:)`` with the provider's WSA error.
///
/// Not an owner of the socket's life beyond ``close()``: the caller closes it.
public final class SanSocket: @unchecked Sendable {
    public let provider: SanProvider
    /// The provider's SOCKET value.
    public let value: SOCKET
    /// The switch handle the provider created for this socket with WPUCreateSocketHandle during
    /// WSPSocket / WSPAccept on the calling thread; nil if it created none there. The provider
    /// passes it back in WPUCompleteOverlappedRequest and WPUCloseSocketHandle.
    public let switchHandle: SOCKET?
    var procs: WSPPROC_TABLE { self.provider.procs }

    /// WSPSocket(af, SOCK_STREAM, IPPROTO_TCP, WSA_FLAG_OVERLAPPED).
    public init(provider: SanProvider, family: Int32 = AF_INET) throws(SanSwitchError) {
        self.provider = provider
        var info = SanProvider.tcpProtocolInfo()
        info.iAddressFamily = family
        var err: Int32 = 0
        SanUpcallRegistry.shared.clearCreatedOnThisThread()
        let s = provider.procs.lpWSPSocket!(family, Int32(SOCK_STREAM.rawValue), Int32(IPPROTO_TCP), &info, 0,
                                            UInt32(WSA_FLAG_OVERLAPPED), &err)
        let created = SanUpcallRegistry.shared.takeCreatedOnThisThread()
        guard s != sanInvalidSocket else { throw .call(function: "WSPSocket", error: WSAError(err)) }
        self.value = s
        self.switchHandle = created
    }

    /// Wraps a SOCKET the provider returned (WSPAccept).
    public init(provider: SanProvider, value: SOCKET, switchHandle: SOCKET? = nil) {
        self.provider = provider
        self.value = value
        self.switchHandle = switchHandle
    }

    @inline(__always)
    func check(_ rc: Int32, _ err: Int32, _ function: String) throws(SanSwitchError) {
        if rc != 0 { throw .call(function: function, error: WSAError(err)) }
    }

    /// WSPBind.
    public func bind(_ address: SanAddress) throws(SanSwitchError) {
        var err: Int32 = 0
        let rc = address.withSockaddr { self.procs.lpWSPBind!(self.value, $0, $1, &err) }
        try self.check(rc, err, "WSPBind")
    }

    /// WSPListen.
    public func listen(backlog: Int32 = 16) throws(SanSwitchError) {
        var err: Int32 = 0
        try self.check(self.procs.lpWSPListen!(self.value, backlog, &err), err, "WSPListen")
    }

    /// WSPGetSockName, when the provider implements it.
    public var localAddress: SanAddress? {
        guard let fn = self.procs.lpWSPGetSockName else { return nil }
        var storage = sockaddr_storage()
        var len = Int32(MemoryLayout<sockaddr_storage>.size)
        var err: Int32 = 0
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { fn(self.value, $0, &len, &err) }
        }
        guard rc == 0 else { return nil }
        return SanAddress(bytes: withUnsafeBytes(of: &storage) { Array($0.prefix(Int(len))) })
    }

    /// WSPEventSelect.
    public func eventSelect(_ event: SanEvent?, _ events: Int32) throws(SanSwitchError) {
        var err: Int32 = 0
        try self.check(self.procs.lpWSPEventSelect!(self.value, event?.handle, events, &err), err, "WSPEventSelect")
    }

    /// WSPEnumNetworkEvents: the events that happened and the error code of each FD_* bit.
    public func enumNetworkEvents(_ event: SanEvent?) throws(SanSwitchError) -> (events: Int32, errors: [Int32]) {
        var ne = WSANETWORKEVENTS()
        var err: Int32 = 0
        try self.check(self.procs.lpWSPEnumNetworkEvents!(self.value, event?.handle, &ne, &err), err,
                       "WSPEnumNetworkEvents")
        let errors = withUnsafeBytes(of: ne.iErrorCode) { Array($0.bindMemory(to: Int32.self)) }
        return (ne.lNetworkEvents, errors)
    }

    /// Connects the way the switch does (reference §4.2): WSPEventSelect(FD_CONNECT), WSPConnect
    /// (completing at once or WSAEWOULDBLOCK), then waits for FD_CONNECT and reports its error.
    public func connect(to address: SanAddress, timeoutMilliseconds: Int32 = 10_000) throws(SanSwitchError) {
        let ev = SanEvent()
        defer { ev.close() }
        try self.eventSelect(ev, FD_CONNECT)
        var err: Int32 = 0
        let rc = address.withSockaddr { self.procs.lpWSPConnect!(self.value, $0, $1, nil, nil, nil, nil, &err) }
        if rc != 0 {
            guard err == WSAEWOULDBLOCK else { throw .call(function: "WSPConnect", error: WSAError(err)) }
            guard ev.wait(timeoutMilliseconds: timeoutMilliseconds) else { throw .timedOut(what: "FD_CONNECT") }
            let (events, errors) = try self.enumNetworkEvents(ev)
            guard events & FD_CONNECT != 0 else { throw .call(function: "WSPConnect", error: .notConnected) }
            let code = errors[Int(FD_CONNECT_BIT)]
            if code != 0 { throw .call(function: "WSPConnect", error: WSAError(code)) }
        }
        try self.eventSelect(nil, 0)
    }

    /// Waits for FD_ACCEPT and calls WSPAccept with a condition function that runs `condition`
    /// (nil: accept everyone). Returns the accepted socket and the peer's address.
    public func accept(timeoutMilliseconds: Int32 = 10_000, condition: ((SanAddress?) -> Bool)? = nil)
        throws(SanSwitchError) -> (SanSocket, SanAddress?)
    {
        let ev = SanEvent()
        defer { ev.close() }
        try self.eventSelect(ev, FD_ACCEPT)
        defer { try? self.eventSelect(nil, 0) }
        while true {
            if let accepted = try self.acceptNow(condition: condition) { return accepted }
            guard ev.wait(timeoutMilliseconds: timeoutMilliseconds) else { throw .timedOut(what: "FD_ACCEPT") }
            _ = try self.enumNetworkEvents(ev)
        }
    }

    /// One WSPAccept call; nil when no connection is waiting (WSAEWOULDBLOCK).
    public func acceptNow(condition: ((SanAddress?) -> Bool)? = nil) throws(SanSwitchError) -> (SanSocket, SanAddress?)? {
        final class Box { let decide: (SanAddress?) -> Bool; init(_ d: @escaping (SanAddress?) -> Bool) { self.decide = d } }
        let box = Box(condition ?? { _ in true })
        let cond: LPCONDITIONPROC = { callerId, _, _, _, _, _, _, ctx in
            let box = Unmanaged<Box>.fromOpaque(UnsafeRawPointer(bitPattern: ctx)!).takeUnretainedValue()
            var addr: SanAddress? = nil
            if let id = callerId, let buf = id.pointee.buf, id.pointee.len > 0 {
                addr = SanAddress(bytes: Array(UnsafeRawBufferPointer(start: buf, count: Int(id.pointee.len))))
            }
            return box.decide(addr) ? CF_ACCEPT : CF_REJECT
        }
        var storage = sockaddr_storage()
        var len = Int32(MemoryLayout<sockaddr_storage>.size)
        var err: Int32 = 0
        SanUpcallRegistry.shared.clearCreatedOnThisThread()
        let s = withExtendedLifetime(box) {
            withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    self.procs.lpWSPAccept!(self.value, $0, &len, cond, UInt(bitPattern: Unmanaged.passUnretained(box).toOpaque()), &err)
                }
            }
        }
        let created = SanUpcallRegistry.shared.takeCreatedOnThisThread()
        if s == sanInvalidSocket {
            if err == WSAEWOULDBLOCK { return nil }
            throw .call(function: "WSPAccept", error: WSAError(err))
        }
        let peer = len > 0 ? SanAddress(bytes: withUnsafeBytes(of: &storage) { Array($0.prefix(Int(len))) }) : nil
        return (SanSocket(provider: self.provider, value: s, switchHandle: created), peer)
    }

    /// WSPGetSockOpt for a 32-bit option (SO_MAX_MSG_SIZE, SO_MAX_RDMA_SIZE, SO_RDMA_THRESHOLD_SIZE).
    public func option(level: Int32 = SOL_SOCKET_WSA, _ name: Int32) throws(SanSwitchError) -> UInt32 {
        var value: UInt32 = 0
        var len: Int32 = 4
        var err: Int32 = 0
        let rc = withUnsafeMutableBytes(of: &value) {
            self.procs.lpWSPGetSockOpt!(self.value, level, name, $0.baseAddress!.assumingMemoryBound(to: CChar.self), &len, &err)
        }
        try self.check(rc, err, "WSPGetSockOpt")
        return value
    }

    /// WSPSetSockOpt with raw bytes.
    public func setOption(level: Int32 = SOL_SOCKET_WSA, _ name: Int32, _ bytes: [UInt8]) throws(SanSwitchError) {
        var err: Int32 = 0
        let rc = bytes.withUnsafeBytes {
            self.procs.lpWSPSetSockOpt!(self.value, level, name, $0.baseAddress?.assumingMemoryBound(to: CChar.self),
                                        Int32(bytes.count), &err)
        }
        try self.check(rc, err, "WSPSetSockOpt")
    }

    /// WSPCloseSocket.
    public func close() throws(SanSwitchError) {
        var err: Int32 = 0
        try self.check(self.procs.lpWSPCloseSocket!(self.value, &err), err, "WSPCloseSocket")
    }
}
