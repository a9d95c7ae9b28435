import CSanABI
import Glibc
import SanCore
import SanProviderTCP
import Testing

/// A peer that speaks the tcp provider's wire protocol over a plain blocking socket: the
/// security tests use it to send what no provider would (bad keys, overflowing offsets, garbage).
final class RawPeer: @unchecked Sendable {
    private(set) var fd: Int32
    let nonce: Key128
    private(set) var connectionId = Key128.zero

    /// Connects to `addr` and sends HELLO.
    init(connectingTo addr: sockaddr_in) throws {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var a = addr
        let rc = withSockaddr(&a) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        guard rc == 0 else {
            Glibc.close(fd)
            throw WSAFailure(.connectionRefused)
        }
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        self.fd = fd
        self.nonce = Key128(low: UInt64.random(in: 0...UInt64.max), high: UInt64.random(in: 0...UInt64.max))
        self.send(HandshakeMessage(kind: .hello, nonce: self.nonce, maxMessageSize: 1 << 20).bytes)
    }

    deinit { if self.fd >= 0 { Glibc.close(self.fd) } }

    /// Reads the ACCEPT (or REFUSE) answer.
    func readReply() throws -> HandshakeMessage {
        let m = try HandshakeMessage.decode(self.read(exactly: HandshakeMessage.size)).get()
        self.connectionId = self.nonce ^ m.nonce
        return m
    }

    func send(_ bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(self.fd, $0.baseAddress! + off, bytes.count - off, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            off += n
        }
    }

    func read(exactly count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = out.withUnsafeMutableBytes { Glibc.recv(self.fd, $0.baseAddress! + got, count - got, 0) }
            guard n > 0 else { throw WSAFailure(n == 0 ? .disconnected : .timedOut) }
            got += n
        }
        return out
    }

    /// The highest ACK the provider sent so far (RDMA writes it placed).
    private(set) var acknowledged: UInt64 = 0

    /// The next frame prologue the provider sent, with its data; ACK frames are noted in
    /// `acknowledged` and skipped unless `acks` is true.
    func readFrame(acks: Bool = false) throws -> (Frame, [UInt8]) {
        while true {
            let head = try self.read(exactly: Frame.headerSize)
            let type = try #require(FrameType(rawValue: head[0]))
            let rest = try self.read(exactly: type.extensionSize)
            let frame = try Frame.decode(head + rest).get()
            let data = try self.read(exactly: Int(frame.dataLength))
            if case .ack(let placed) = frame {
                self.acknowledged = placed
                if !acks { continue }
            }
            return (frame, data)
        }
    }

    /// True when the provider closed the connection (end of stream or reset) within 5 s,
    /// skipping whatever it sent before.
    func sawEnd() -> Bool {
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.recv(self.fd, $0.baseAddress!, 4096, 0) }
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
        }
    }

    /// Closes without a CLOSE frame: end of stream (FIN), or a reset with `reset`.
    func vanish(reset: Bool) {
        if reset {
            var l = linger(l_onoff: 1, l_linger: 0)
            setsockopt(self.fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
            Glibc.close(self.fd)
            self.fd = -1
        } else {
            Glibc.shutdown(self.fd, Int32(SHUT_WR))
        }
    }
}

/// A provider listener with a raw peer connected and accepted.
struct RawSession {
    let provider: LoadedProvider
    let peer: RawPeer
    let server: SOCKET

    init(_ provider: LoadedProvider) throws {
        self.provider = provider
        let ev = TestEvent()
        let (ls, addr) = try provider.listener(event: ev)
        defer { try? provider.close(ls) }
        self.peer = try RawPeer(connectingTo: addr)
        guard ev.wait() else { throw WSAFailure(.timedOut) }
        self.server = try provider.accept(ls)
        let reply = try self.peer.readReply()
        guard reply.kind == .accept else { throw WSAFailure(.connectionRefused) }
    }
}
