#if canImport(Glibc)
import Glibc
#endif
import CSanABI
import SanCore
import SanSwitch

/// Page-aligned memory a test owns (freed explicitly, after the sockets using it closed).
struct Memory {
    let bytes: UnsafeMutableRawBufferPointer
    init(_ size: Int, fill: UInt8 = 0) {
        self.bytes = .allocate(byteCount: size, alignment: 4096)
        self.bytes.initializeMemory(as: UInt8.self, repeating: fill)
    }
    func free() { self.bytes.deallocate() }
    func slice(_ offset: Int, _ length: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: self.bytes[offset..<(offset + length)])
    }
    func read(_ offset: Int, _ length: Int) -> [UInt8] { Array(self.slice(offset, length)) }
}

/// A thread running one closure (accept while this thread connects).
final class Background<T>: BackgroundBody, @unchecked Sendable {
    private let body: () -> T
    private var result: T?
    private var thread = pthread_t()

    init(_ body: @escaping () -> T) {
        self.body = body
        super.init()
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, backgroundEntry, Unmanaged<BackgroundBody>.passRetained(self).toOpaque())
        precondition(rc == 0)
        self.thread = tid
    }
    override func main() { self.result = self.body() }
    func join() -> T {
        pthread_join(self.thread, nil)
        return self.result!
    }
}

class BackgroundBody { func main() {} }

private func backgroundEntry(_ raw: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    Unmanaged<BackgroundBody>.fromOpaque(raw!).takeRetainedValue().main()
    return nil
}

/// A listener on 127.0.0.1: an ephemeral port from WSPGetSockName, or (for a provider without
/// it, which the SPI allows) a port the kernel just handed out.
func makeListener(_ p: SanProvider) throws -> (SanSocket, SanAddress) {
    let s = try SanSocket(provider: p)
    let port = p.has(.getSockName) ? 0 : freeTCPPort()
    try s.bind(.loopback(port: port))
    try s.listen()
    return (s, .loopback(port: s.localAddress?.port ?? port))
}

/// A connected pair in this process: the client connected (FD_CONNECT) while another thread
/// accepted.
struct Pair {
    let listener: SanSocket
    let client: SanSocket
    let server: SanSocket

    init(_ p: SanProvider, condition: ((SanAddress?) -> Bool)? = nil) throws {
        let (l, address) = try makeListener(p)
        let acceptor = Background { () -> Result<SanSocket, SanSwitchError> in
            do throws(SanSwitchError) { return .success(try l.accept(timeoutMilliseconds: 10_000, condition: condition).0) }
            catch { return .failure(error) }
        }
        let c = try SanSocket(provider: p)
        let connected = Result { () throws(SanSwitchError) in try c.connect(to: address) }
        let accepted = acceptor.join()
        if case .failure = connected { try? c.close() }
        if case .success(let s) = accepted, case .failure = connected { try? s.close() }
        if case .failure = connected { try? l.close() } else if case .failure = accepted { try? l.close() }
        try connected.get()
        self.server = try accepted.get()
        self.client = c
        self.listener = l
    }

    func close() {
        for s in [self.client, self.server, self.listener] { try? s.close() }
    }
}

/// An unused TCP port on 127.0.0.1 (bound to 0 by the kernel, then released).
func freeTCPPort() -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var sin = sockaddr_in()
    sin.sin_family = sa_family_t(AF_INET)
    sin.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &sin) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p -> Int32 in
            _ = bind(fd, p, len)
            return getsockname(fd, p, &len)
        }
    }
    return UInt16(bigEndian: sin.sin_port)
}

/// Both completion modes, for tests that run every data-path call in each.
enum Mode: String, CaseIterable, Sendable {
    case poll, upcall
}

/// An operation in `mode`, with its event (upcall mode).
func operation(_ mode: Mode) -> (SanOperation, SanEvent?) {
    if mode == .poll { return (SanOperation(mode: .poll), nil) }
    let ev = SanEvent()
    return (SanOperation(mode: .upcall(ev)), ev)
}

/// Waits for a completion up to 10 s.
func finish(_ op: SanOperation) throws -> SanCompletion { try op.wait(timeoutNanoseconds: 10_000_000_000) }

/// Waits until the operation's structure is published (after a close, when the provider can no
/// longer be asked), up to 10 s; nil on timeout.
func published(_ op: SanOperation, within ns: UInt64 = 10_000_000_000) -> SanCompletion? {
    let deadline = monotonicNow() + ns
    while monotonicNow() < deadline {
        if let c = op.published { return c }
        usleep(1000)
    }
    return nil
}

func monotonicNow() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
