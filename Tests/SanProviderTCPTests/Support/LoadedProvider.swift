import CSanABI
import CSanSupport
import Glibc
import SanCore
import SanSwitch
import SanTestSupport
import Synchronization
import Testing

/// A WSA error from a failed call, for `#expect(throws:)`.
struct WSAFailure: Error, Equatable, CustomStringConvertible {
    let code: Int32
    init(_ code: Int32) { self.code = code }
    init(_ e: WSAError) { self.code = e.rawValue }
    var description: String { WSAError(self.code).description }
}

/// A provider .so loaded by SanSwitch (dlopen, WSPStartupEx with the switch's upcall table, the
/// seven extension look-ups): its proc table and extension pointers, called directly so the
/// tests can pass anything the ABI allows, including what a safe API would refuse.
final class LoadedProvider: @unchecked Sendable {
    let path: String
    let provider: SanProvider
    let table: WSPPROC_TABLE
    let registerMemory: LPFN_WSPREGISTERMEMORY
    let deregisterMemory: LPFN_WSPDEREGISTERMEMORY
    let registerRdmaMemory: LPFN_WSPREGISTERRDMAMEMORY
    let deregisterRdmaMemory: LPFN_WSPDEREGISTERRDMAMEMORY
    let rdmaWrite: LPFN_WSPRDMAWRITE
    let rdmaRead: LPFN_WSPRDMAREAD
    let cacheCallback: LPFN_WSPMEMORYREGISTRATIONCACHECALLBACK
    let startup: LPWSPSTARTUPEX

    /// libsan_tcp.so from the products folder, started once and never cleaned up (tests run in
    /// parallel on it; the cleanup test uses ``isolatedCopy()``).
    static let tcp = LoadedProvider(path: SanProducts.path("libsan_tcp.so"))

    private static let copies = Atomic<Int>(0)

    /// A private instance of libsan_tcp.so: the file copied under a new name, so dlopen loads a
    /// second, independent provider (its own sockets, start count and progress thread).
    /// `environment` is set while the copy starts (its knobs are read at the first WSPStartupEx).
    static func isolatedCopy(environment: [String: String] = [:]) -> LoadedProvider {
        let n = self.copies.add(1, ordering: .relaxed).newValue
        let copy = "/tmp/san_tcp_test_\(getpid())_\(n).so"
        let src = open(SanProducts.path("libsan_tcp.so"), O_RDONLY)
        let dst = open(copy, O_WRONLY | O_CREAT | O_TRUNC, 0o700)
        precondition(src >= 0 && dst >= 0, "cannot copy libsan_tcp.so")
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = read(src, &buf, buf.count)
            if n <= 0 { break }
            _ = buf.withUnsafeBytes { write(dst, $0.baseAddress!, n) }
        }
        Glibc.close(src)
        Glibc.close(dst)
        for (k, v) in environment { setenv(k, v, 1) }
        defer { for k in environment.keys { unsetenv(k) } }
        return LoadedProvider(path: copy)
    }

    init(path: String) {
        UpcallLog.enable()
        self.path = path
        do { self.provider = try SanProvider.load(path) } catch { fatalError("loading \(path): \(error)") }
        guard let lib = dlopen(path, RTLD_NOW | RTLD_LOCAL), let sym = dlsym(lib, "WSPStartupEx") else {
            fatalError("\(path) exports no WSPStartupEx")
        }
        self.startup = unsafeBitCast(sym, to: LPWSPSTARTUPEX.self)
        self.table = self.provider.procs
        let x = self.provider.extensions
        self.registerMemory = x.registerMemory
        self.deregisterMemory = x.deregisterMemory
        self.registerRdmaMemory = x.registerRdmaMemory
        self.deregisterRdmaMemory = x.deregisterRdmaMemory
        self.rdmaWrite = x.rdmaWrite
        self.rdmaRead = x.rdmaRead!
        self.cacheCallback = x.memoryRegistrationCacheCallback!
    }

    /// Another WSPStartupEx on the same instance (reference-counted), through SanSwitch again.
    func startAgain() -> Int32 {
        do {
            _ = try SanProvider.load(self.path)
            return 0
        } catch {
            return WSASYSNOTREADY
        }
    }

    func cleanup() throws(WSAFailure) {
        var err: Int32 = 0
        guard self.table.lpWSPCleanup!(&err) == 0 else { throw WSAFailure(err) }
    }

    // MARK: Sockets

    func socket(family: Int32 = AF_INET) throws(WSAFailure) -> SOCKET {
        var err: Int32 = 0
        var info = WSAPROTOCOL_INFOW()
        let s = self.table.lpWSPSocket!(family, Int32(SOCK_STREAM.rawValue), 0, &info, 0, UInt32(WSA_FLAG_OVERLAPPED), &err)
        guard s != sanInvalidSocket else { throw WSAFailure(err) }
        return s
    }

    func close(_ s: SOCKET) throws(WSAFailure) {
        var err: Int32 = 0
        guard self.table.lpWSPCloseSocket!(s, &err) == 0 else { throw WSAFailure(err) }
    }

    /// The switch handle the provider got for `s` (WPUCreateSocketHandle with context `s`).
    func switchSocket(of s: SOCKET) -> SOCKET? { SanUpcallRegistry.shared.switchHandle(forContext: s) }

    /// A listening socket on 127.0.0.1 and an ephemeral port (learnt with WSPGetSockName).
    func listener(backlog: Int32 = 8, event: TestEvent? = nil) throws(WSAFailure) -> (SOCKET, sockaddr_in) {
        let ls = try self.socket()
        var addr = loopback(port: 0)
        try call { e in withSockaddr(&addr) { self.table.lpWSPBind!(ls, $0, Int32(MemoryLayout<sockaddr_in>.size), e) } }
        try call { self.table.lpWSPListen!(ls, backlog, $0) }
        var len = Int32(MemoryLayout<sockaddr_in>.size)
        try call { e in withSockaddr(&addr) { self.table.lpWSPGetSockName!(ls, $0, &len, e) } }
        if let event { try call { self.table.lpWSPEventSelect!(ls, event.handle, FD_ACCEPT, $0) } }
        return (ls, addr)
    }

    func eventSelect(_ s: SOCKET, _ event: TestEvent, _ mask: Int32) throws(WSAFailure) {
        try call { self.table.lpWSPEventSelect!(s, event.handle, mask, $0) }
    }

    func enumEvents(_ s: SOCKET, _ event: TestEvent) throws(WSAFailure) -> WSANETWORKEVENTS {
        var ne = WSANETWORKEVENTS()
        try call { self.table.lpWSPEnumNetworkEvents!(s, event.handle, &ne, $0) }
        return ne
    }

    /// Starts a connect; nonblocking when `event` selects FD_CONNECT first.
    func connect(_ s: SOCKET, to addr: sockaddr_in, event: TestEvent?) -> Int32 {
        if let event { try? self.eventSelect(s, event, FD_CONNECT) }
        var a = addr
        var err: Int32 = 0
        let rc = withSockaddr(&a) {
            self.table.lpWSPConnect!(s, $0, Int32(MemoryLayout<sockaddr_in>.size), nil, nil, nil, nil, &err)
        }
        return rc == 0 ? 0 : err
    }

    func accept(_ ls: SOCKET, verdict: Int32 = CF_ACCEPT) throws(WSAFailure) -> SOCKET {
        var err: Int32 = 0
        let condition: LPCONDITIONPROC = { _, _, _, _, _, _, _, verdict in Int32(verdict) }
        let s = self.table.lpWSPAccept!(ls, nil, nil, condition, UInt(verdict), &err)
        guard s != sanInvalidSocket else { throw WSAFailure(err) }
        return s
    }

    /// A connected pair over loopback: listen, nonblocking connect, FD_ACCEPT, accept, FD_CONNECT.
    func pair() throws(WSAFailure) -> Pair {
        let acceptEvent = TestEvent(), connectEvent = TestEvent()
        let (ls, addr) = try self.listener(event: acceptEvent)
        let client = try self.socket()
        let rc = self.connect(client, to: addr, event: connectEvent)
        guard rc == WSAEWOULDBLOCK else { throw WSAFailure(rc == 0 ? WSAEINVAL : rc) }
        guard acceptEvent.wait() else { throw WSAFailure(.timedOut) }
        let server = try self.accept(ls)
        guard connectEvent.wait() else { throw WSAFailure(.timedOut) }
        let ne = try self.enumEvents(client, connectEvent)
        let code = withUnsafeBytes(of: ne.iErrorCode) { $0.load(fromByteOffset: Int(FD_CONNECT_BIT) * 4, as: Int32.self) }
        guard ne.lNetworkEvents & FD_CONNECT != 0, code == 0 else { throw WSAFailure(code) }
        try self.close(ls)
        return Pair(provider: self, client: client, server: server)
    }

    // MARK: Registration

    func register(_ s: SOCKET, _ buffer: TestBuffer, _ access: Int32) throws(WSAFailure) -> UnsafeMutableRawPointer {
        var err: Int32 = 0
        guard let h = self.registerMemory(s, buffer.base, UInt32(buffer.count), UInt32(access), &err) else {
            throw WSAFailure(err)
        }
        return h
    }

    func registerRdma(_ s: SOCKET, _ buffer: TestBuffer, _ access: Int32, offset: Int = 0,
                      length: Int? = nil) throws(WSAFailure) -> [UInt8] {
        var desc = [UInt8](repeating: 0, count: 256)
        var len = UInt32(desc.count)
        var err: Int32 = 0
        let rc = self.registerRdmaMemory(s, buffer.base + offset, UInt32(length ?? buffer.count - offset),
                                         UInt32(access), &desc, &len, &err)
        guard rc == 0 else { throw WSAFailure(err) }
        return Array(desc.prefix(Int(len)))
    }

    func deregisterRdma(_ s: SOCKET, _ descriptor: [UInt8]) throws(WSAFailure) {
        var d = descriptor
        try call { self.deregisterRdmaMemory(s, &d, UInt32(d.count), $0) }
    }

    // MARK: Data

    func send(_ s: SOCKET, _ parts: [(UnsafeMutableRawPointer, Int)], _ ov: TestOverlapped?) -> Int32 {
        var bufs = parts.map { WSABUF(len: UInt32($0.1), buf: $0.0.assumingMemoryBound(to: CChar.self)) }
        var bytes: UInt32 = 0
        var err: Int32 = 0
        let rc = self.table.lpWSPSend!(s, &bufs, UInt32(bufs.count), &bytes, 0, ov?.pointer, nil, nil, &err)
        return rc == 0 ? 0 : err
    }

    func recv(_ s: SOCKET, _ parts: [(UnsafeMutableRawPointer, Int)], _ ov: TestOverlapped?) -> Int32 {
        var bufs = parts.map { WSABUF(len: UInt32($0.1), buf: $0.0.assumingMemoryBound(to: CChar.self)) }
        var bytes: UInt32 = 0
        var flags: UInt32 = 0
        var err: Int32 = 0
        let rc = self.table.lpWSPRecv!(s, &bufs, UInt32(bufs.count), &bytes, &flags, ov?.pointer, nil, nil, &err)
        return rc == 0 ? 0 : err
    }

    /// WSPRdmaWrite / WSPRdmaRead with WSABUFEX entries (address, length, handle).
    func rdma(write: Bool, _ s: SOCKET, _ parts: [(UnsafeMutableRawPointer, Int, UnsafeMutableRawPointer?)],
              _ descriptor: [UInt8], offset: UInt32, _ ov: TestOverlapped) -> Int32 {
        var bufs = parts.map { WSABUFEX(len: UInt32($0.1), buf: $0.0.assumingMemoryBound(to: CChar.self), handle: $0.2) }
        var desc = descriptor
        var bytes: UInt32 = 0
        var err: Int32 = 0
        let fn = write ? self.rdmaWrite : self.rdmaRead
        let rc = fn(s, &bufs, UInt32(bufs.count), &desc, UInt32(desc.count), offset, &bytes, 0, ov.pointer, nil, nil, &err)
        return rc == 0 ? 0 : err
    }

    /// WSPGetOverlappedResult.
    func result(_ s: SOCKET, _ ov: TestOverlapped, wait: Bool) -> (ok: Bool, bytes: UInt32, error: Int32) {
        var bytes: UInt32 = 0
        var flags: UInt32 = 0
        var err: Int32 = 0
        let ok = self.table.lpWSPGetOverlappedResult!(s, ov.pointer, &bytes, wait ? 1 : 0, &flags, &err)
        return (ok != 0, bytes, ok != 0 ? 0 : err)
    }

    /// Waits for an operation without ever blocking forever: polls (fWait FALSE) in poll mode,
    /// watches `Internal` in upcall mode. nil on timeout.
    func completion(_ s: SOCKET, _ ov: TestOverlapped, seconds: Double = 10) -> (bytes: UInt32, error: Int32)? {
        let deadline = csan_monotonic_ns() + UInt64(seconds * 1e9)
        while csan_monotonic_ns() < deadline {
            if ov.polls {
                let r = self.result(s, ov, wait: false)
                if r.ok || r.error != WSA_IO_INCOMPLETE { return (r.bytes, r.error) }
            } else if !ov.isPending {
                return (UInt32(ov.pointer.pointee.InternalHigh), Int32(bitPattern: ov.pointer.pointee.OffsetHigh))
            }
            usleep(50)
        }
        return nil
    }
}

/// Runs a C call that returns 0, or SOCKET_ERROR with the error stored through its lpErrno.
func call(_ body: (UnsafeMutablePointer<Int32>) -> Int32) throws(WSAFailure) {
    var err: Int32 = 0
    let rc = body(&err)
    if rc != 0 { throw WSAFailure(err) }
}

func loopback(port: UInt16) -> sockaddr_in {
    var a = sockaddr_in()
    a.sin_family = sa_family_t(AF_INET)
    a.sin_port = port.bigEndian
    a.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    return a
}

/// Lends a sockaddr_in as a `sockaddr *` for the duration of `body`.
func withSockaddr<R>(_ a: inout sockaddr_in, _ body: (UnsafeMutablePointer<sockaddr>) -> R) -> R {
    withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1, body) }
}

/// Two connected provider sockets of one provider.
struct Pair: @unchecked Sendable {
    let provider: LoadedProvider
    let client: SOCKET
    let server: SOCKET

    func close() {
        try? self.provider.close(self.client)
        try? self.provider.close(self.server)
    }
}
