import CSanABI
import Glibc
import SanCore
import SanProviderTCP
import Testing

/// Connection setup (reference §4.2): nonblocking and blocking connect, FD_ACCEPT, the condition
/// function, the backlog, names, addresses and options.
@Suite struct ConnectionTests {
    let tcp = LoadedProvider.tcp

    @Test func blockingConnectWhenNoConnectEventIsSelected() throws {
        let acceptEvent = TestEvent()
        let (ls, addr) = try tcp.listener(event: acceptEvent)
        defer { try? tcp.close(ls) }
        let client = try tcp.socket()
        let tcp = self.tcp
        // The connect blocks until the listener's application accepts.
        let connecting = TestThread { _ = tcp.connect(client, to: addr, event: nil) }
        #expect(acceptEvent.wait())
        let server = try tcp.accept(ls)
        connecting.join()
        let p = Pair(provider: tcp, client: client, server: server)
        defer { p.close() }
        try RdmaTests.doneMessage(tcp, p)
        // Both names agree.
        var mine = sockaddr_in(), theirs = sockaddr_in()
        var len = Int32(MemoryLayout<sockaddr_in>.size)
        try call { e in withSockaddr(&mine) { tcp.table.lpWSPGetSockName!(client, $0, &len, e) } }
        try call { e in withSockaddr(&theirs) { tcp.table.lpWSPGetPeerName!(server, $0, &len, e) } }
        #expect(mine.sin_port == theirs.sin_port && mine.sin_port != 0)
    }

    @Test func blockingConnectReturnsItsResult() throws {
        let (ls, addr) = try tcp.listener()
        try tcp.close(ls)  // nobody listens there any more
        let client = try tcp.socket()
        defer { try? tcp.close(client) }
        let rc = withDeadline { [tcp] in tcp.connect(client, to: addr, event: nil) }
        #expect(rc == WSAECONNREFUSED)
    }

    @Test func rejectedByTheConditionFunction() throws {
        let acceptEvent = TestEvent(), connectEvent = TestEvent()
        let (ls, addr) = try tcp.listener(event: acceptEvent)
        defer { try? tcp.close(ls) }
        let client = try tcp.socket()
        defer { try? tcp.close(client) }
        #expect(tcp.connect(client, to: addr, event: connectEvent) == WSAEWOULDBLOCK)
        #expect(acceptEvent.wait())
        #expect(throws: WSAFailure(.connectionRefused)) { try tcp.accept(ls, verdict: CF_REJECT) }
        #expect(connectEvent.wait())
        let ne = try tcp.enumEvents(client, connectEvent)
        #expect(ne.lNetworkEvents & FD_CONNECT != 0)
        #expect(Self.code(ne, FD_CONNECT_BIT) == WSAECONNREFUSED)
        // Nothing else waits: another accept has nothing to take.
        #expect(throws: WSAFailure(.wouldBlock)) { try tcp.accept(ls) }
    }

    @Test func fullBacklogIsRefusedByTheProvider() throws {
        let acceptEvent = TestEvent()
        let (ls, addr) = try tcp.listener(backlog: 1, event: acceptEvent)
        defer { try? tcp.close(ls) }
        let first = try tcp.socket(), second = try tcp.socket()
        defer {
            try? tcp.close(first)
            try? tcp.close(second)
        }
        let e1 = TestEvent(), e2 = TestEvent()
        #expect(tcp.connect(first, to: addr, event: e1) == WSAEWOULDBLOCK)
        #expect(acceptEvent.wait())
        #expect(tcp.connect(second, to: addr, event: e2) == WSAEWOULDBLOCK)
        // The second finds the backlog (1) full: refused without the application's involvement.
        #expect(e2.wait())
        #expect(Self.code(try tcp.enumEvents(second, e2), FD_CONNECT_BIT) == WSAECONNREFUSED)
        let server = try tcp.accept(ls)
        defer { try? tcp.close(server) }
        #expect(e1.wait())
        #expect(Self.code(try tcp.enumEvents(first, e1), FD_CONNECT_BIT) == 0)
    }

    @Test func addressListHoldsLoopback() throws {
        let s = try tcp.socket()
        defer { try? tcp.close(s) }
        var needed: UInt32 = 0
        var err: Int32 = 0
        #expect(tcp.table.lpWSPIoctl!(s, SIO_ADDRESS_LIST_QUERY, nil, 0, nil, 0, &needed, nil, nil, nil, &err) == -1)
        #expect(err == WSAEFAULT && needed > 0)
        let out = UnsafeMutableRawPointer.allocate(byteCount: Int(needed), alignment: 8)
        defer { out.deallocate() }
        try call { tcp.table.lpWSPIoctl!(s, SIO_ADDRESS_LIST_QUERY, nil, 0, out, needed, &needed, nil, nil, nil, $0) }
        let list = out.assumingMemoryBound(to: SOCKET_ADDRESS_LIST.self)
        let count = Int(list.pointee.iAddressCount)
        #expect(count >= 1)
        let entries = UnsafeRawPointer(out + MemoryLayout<SOCKET_ADDRESS_LIST>.offset(of: \.Address)!)
            .assumingMemoryBound(to: SOCKET_ADDRESS.self)
        let loopbackFound = (0..<count).contains { i in
            let sa = entries[i].lpSockaddr!
            guard Int32(sa.pointee.sa_family) == AF_INET else { return false }
            return UnsafeRawPointer(sa).load(as: sockaddr_in.self).sin_addr.s_addr == UInt32(0x7F00_0001).bigEndian
        }
        #expect(loopbackFound)
    }

    @Test func socketOptions() throws {
        let p = try tcp.pair()
        defer { p.close() }
        func get(_ name: Int32) throws -> UInt32 {
            var v: UInt32 = 0
            var len: Int32 = 4
            try call { e in withUnsafeMutableBytes(of: &v) {
                tcp.table.lpWSPGetSockOpt!(p.client, SOL_SOCKET_WSA, name, $0.baseAddress!.assumingMemoryBound(to: CChar.self), &len, e)
            } }
            return v
        }
        #expect(try get(SO_MAX_MSG_SIZE) == 1 << 20)
        #expect(try get(SO_MAX_RDMA_SIZE) == 1 << 30)
        #expect(try get(SO_RDMA_THRESHOLD_SIZE) == 16 << 10)
        #expect(throws: WSAFailure(.noProtocolOption)) { try get(0x4242) }
        // Options a switch copies from the application's TCP socket are taken.
        var one: Int32 = 1
        for (level, name) in [(SOL_SOCKET_WSA, Int32(0x1001)), (SOL_SOCKET_WSA, 0x0008), (6, 1)] {
            try call { e in withUnsafeBytes(of: &one) {
                tcp.table.lpWSPSetSockOpt!(p.client, level, name, $0.baseAddress!.assumingMemoryBound(to: CChar.self), 4, e)
            } }
        }
        #expect(throws: WSAFailure(.noProtocolOption)) {
            try call { e in withUnsafeBytes(of: &one) {
                tcp.table.lpWSPSetSockOpt!(p.client, SOL_SOCKET_WSA, 0x4242, $0.baseAddress!.assumingMemoryBound(to: CChar.self), 4, e)
            } }
        }
        // SO_KEEPALIVE and SO_DONTROUTE reach the kernel socket (found by its local port).
        var mine = sockaddr_in()
        var len = Int32(MemoryLayout<sockaddr_in>.size)
        try call { e in withSockaddr(&mine) { tcp.table.lpWSPGetSockName!(p.client, $0, &len, e) } }
        let fd = try #require(Self.kernelSocket(localPort: mine.sin_port))
        for (windows, linux) in [(Int32(0x0008), SO_KEEPALIVE), (0x0010, SO_DONTROUTE)] {
            for value: Int32 in [1, 0] {
                var v = value
                try call { e in withUnsafeBytes(of: &v) {
                    tcp.table.lpWSPSetSockOpt!(p.client, SOL_SOCKET_WSA, windows, $0.baseAddress!.assumingMemoryBound(to: CChar.self), 4, e)
                } }
                var got: Int32 = -1
                var size = socklen_t(4)
                #expect(getsockopt(fd, SOL_SOCKET, linux, &got, &size) == 0 && got == value, "option \(linux) = \(value)")
            }
            #expect(throws: WSAFailure(.fault)) {
                try call { tcp.table.lpWSPSetSockOpt!(p.client, SOL_SOCKET_WSA, windows, nil, 0, $0) }
            }
        }
        // Unsupported base calls answer as documented.
        var err: Int32 = 0
        #expect(tcp.table.lpWSPDuplicateSocket!(p.client, 1, nil, &err) == -1 && err == WSAEOPNOTSUPP)
        #expect(tcp.table.lpWSPShutdown == nil)
    }

    /// This process's connected IPv4 TCP socket with that local port (network byte order).
    static func kernelSocket(localPort: UInt16) -> Int32? {
        for fd in Int32(3)..<4096 {
            var a = sockaddr_in(), b = sockaddr_in()
            var la = socklen_t(MemoryLayout<sockaddr_in>.size), lb = la
            guard withSockaddr(&a, { getsockname(fd, $0, &la) }) == 0, a.sin_family == sa_family_t(AF_INET),
                  a.sin_port == localPort, withSockaddr(&b, { getpeername(fd, $0, &lb) }) == 0 else { continue }
            return fd
        }
        return nil
    }

    /// Wire protocol versions: a HELLO of version 1 is refused with a version-2 REFUSE that says
    /// why (reason 13) and never reaches WSPAccept.
    @Test func aPeerOfAnotherVersionIsRefusedByTheListener() throws {
        let (ls, addr) = try tcp.listener()
        defer { try? tcp.close(ls) }
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { Glibc.close(fd) }
        var a = addr
        #expect(withSockaddr(&a) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } == 0)
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var hello = HandshakeMessage(kind: .hello, nonce: Key128(low: 1, high: 2), maxMessageSize: 1 << 20).bytes
        hello[4] = 1  // version 1
        #expect(Glibc.send(fd, hello, 32, 0) == 32)
        var reply = [UInt8](repeating: 0, count: 33)
        var got = 0
        while got < 33 {
            let n = reply.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress! + got, 33 - got, 0) }
            if n <= 0 { break }
            got += n
        }
        #expect(got == 32, "a 32-byte answer, then the end")
        let m = try HandshakeMessage.decode(Array(reply.prefix(32))).get()
        #expect(m.kind == .refuse && m.reason == WireError.unsupportedVersion.rawValue)
        var err: Int32 = 0
        #expect(tcp.table.lpWSPAccept!(ls, nil, nil, nil, 0, &err) == sanInvalidSocket && err == WSAEWOULDBLOCK)
    }

    /// A listener that answers in version 1, or hangs up on our HELLO as a version-1 provider
    /// does: the connect fails with WSAECONNABORTED (not WSAECONNREFUSED or WSAECONNRESET, after
    /// which a switch would not fall back to TCP).
    @Test(arguments: [true, false])
    func aListenerOfAnotherVersionFailsTheConnect(answers: Bool) throws {
        let lfd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { Glibc.close(lfd) }
        var addr = loopback(port: 0)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        #expect(withSockaddr(&addr) { Glibc.bind(lfd, $0, len) } == 0 && Glibc.listen(lfd, 1) == 0)
        #expect(withSockaddr(&addr) { getsockname(lfd, $0, &len) } == 0)
        let listener = TestThread {
            let fd = Glibc.accept(lfd, nil, nil)
            guard fd >= 0 else { return }
            var hello = [UInt8](repeating: 0, count: 32)
            _ = hello.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress!, 32, Int32(MSG_WAITALL)) }
            var accept = HandshakeMessage(kind: .accept, nonce: Key128(low: 3, high: 4), maxMessageSize: 1 << 20).bytes
            accept[4] = 1
            if answers {
                _ = Glibc.send(fd, accept, 32, 0)
                usleep(200_000)
            }
            Glibc.close(fd)
        }
        defer { listener.join() }
        let client = try tcp.socket()
        defer { try? tcp.close(client) }
        let target = addr
        let rc = withDeadline { [tcp] in tcp.connect(client, to: target, event: nil) }
        #expect(rc == WSAECONNABORTED)
    }

    @Test func badCallsGetClearErrors() throws {
        var err: Int32 = 0
        #expect(tcp.table.lpWSPCloseSocket!(0x1234, &err) == -1 && err == WSAENOTSOCK)
        var info = WSAPROTOCOL_INFOW()
        #expect(tcp.table.lpWSPSocket!(AF_UNIX, 1, 0, &info, 0, 0, &err) == sanInvalidSocket && err == WSAEAFNOSUPPORT)
        let s = try tcp.socket()
        defer { try? tcp.close(s) }
        // Not connected: data calls and registration refuse.
        let b = TestBuffer(16)
        #expect(tcp.send(s, [b.part(0, 16)], TestOverlapped()) == WSAENOTCONN)
        #expect(tcp.registerMemory(s, b.base, 16, UInt32(MEM_READ), &err) == nil && err == WSAENOTCONN)
        #expect(tcp.table.lpWSPListen!(s, 1, &err) == -1 && err == WSAEINVAL)  // not bound
        // Unknown ioctl, unknown extension GUID.
        #expect(tcp.table.lpWSPIoctl!(s, 0x1234, nil, 0, nil, 0, nil, nil, nil, nil, &err) == -1 && err == WSAEINVAL)
        var guid = GUID()
        var fn: UnsafeMutableRawPointer?
        #expect(tcp.table.lpWSPIoctl!(sanInvalidSocket, SIO_GET_EXTENSION_FUNCTION_POINTER, &guid, 16, &fn, 8, nil, nil, nil,
                                      nil, &err) == -1 && err == WSAEINVAL)
    }

    static func code(_ ne: WSANETWORKEVENTS, _ bit: Int32) -> Int32 {
        withUnsafeBytes(of: ne.iErrorCode) { $0.load(fromByteOffset: Int(bit) * 4, as: Int32.self) }
    }

    /// IPv6 works the same way (skipped, and reported so, on a machine without ::1).
    @Test(.enabled(if: Self.ipv6Loopback, "no IPv6 loopback here"))
    func ipv6Pair() throws {
        let acceptEvent = TestEvent(), connectEvent = TestEvent()
        let ls = try tcp.socket(family: AF_INET6)
        defer { try? tcp.close(ls) }
        var addr = sockaddr_in6()
        addr.sin6_family = sa_family_t(AF_INET6)
        addr.sin6_addr.__in6_u.__u6_addr8.15 = 1
        let size = Int32(MemoryLayout<sockaddr_in6>.size)
        try call { e in withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { tcp.table.lpWSPBind!(ls, $0, size, e) } } }
        try call { tcp.table.lpWSPListen!(ls, 4, $0) }
        var len = size
        try call { e in withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { tcp.table.lpWSPGetSockName!(ls, $0, &len, e) } } }
        try tcp.eventSelect(ls, acceptEvent, FD_ACCEPT)
        let client = try tcp.socket(family: AF_INET6)
        try tcp.eventSelect(client, connectEvent, FD_CONNECT)
        var err: Int32 = 0
        let rc = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { tcp.table.lpWSPConnect!(client, $0, size, nil, nil, nil, nil, &err) }
        }
        #expect(rc == -1 && err == WSAEWOULDBLOCK)
        #expect(acceptEvent.wait())
        let server = try tcp.accept(ls)
        #expect(connectEvent.wait())
        #expect(Self.code(try tcp.enumEvents(client, connectEvent), FD_CONNECT_BIT) == 0)
        let p = Pair(provider: tcp, client: client, server: server)
        defer { p.close() }
        try RdmaTests.doneMessage(tcp, p)
    }

    static let ipv6Loopback: Bool = {
        let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var a = sockaddr_in6()
        a.sin6_family = sa_family_t(AF_INET6)
        a.sin6_addr.__in6_u.__u6_addr8.15 = 1
        return withUnsafeMutablePointer(to: &a) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
        } == 0
    }()
}
