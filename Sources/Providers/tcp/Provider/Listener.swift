import CSanABI
import CSanSupport
import CSanTCP
import Glibc
import SanCore
import SanProviderKit
import Synchronization

/// A listening socket (reference §4.2, passive side). The progress thread accepts TCP
/// connections and reads their HELLO; a connection whose HELLO is complete waits in `ready`
/// (at most `backlog` of them; beyond that the provider refuses the peer itself) and FD_ACCEPT
/// is signalled. WSPAccept takes one and answers ACCEPT or REFUSE after the condition function.
final class Listener: PollTarget {
    struct State: Sendable {
        var handshaking: [UInt64: Incoming] = [:]
        var ready = FIFO<Incoming>()
        var backlog: Int
        var closed = false
    }

    /// Connections still sending their HELLO, at most (more are closed at once).
    static let maxHandshaking = 128

    let provider: TCPProvider
    let context: SocketContext
    let fd: OwnedFD
    let token: UInt64
    let state: Mutex<State>

    init(provider: TCPProvider, context: SocketContext, fd: OwnedFD, backlog: Int) {
        self.provider = provider
        self.context = context
        self.fd = fd
        self.token = provider.progress.newToken()
        self.state = Mutex(State(backlog: backlog))
    }

    func activate() -> Int32? {
        self.provider.progress.register(self.fd.raw, events: CSAN_TCP_EPOLLIN, token: self.token, target: self)
    }

    func setBacklog(_ backlog: Int) { self.state.withLock { $0.backlog = backlog } }

    /// EPOLLIN on the listening socket: accept everything waiting.
    func handle(events: UInt32) {
        while case .success(let (raw, peer)) = Sys.accept(self.fd.raw) {
            let fd = OwnedFD(raw)
            Sys.setNoDelay(raw)
            let deadline = csan_monotonic_ns() + UInt64(self.provider.config.connectTimeoutMilliseconds) * 1_000_000
            let incoming = Incoming(listener: self, fd: fd, peer: peer, deadline: deadline,
                                    token: self.provider.progress.newToken())
            let admitted = self.state.withLock { s -> Bool in
                guard !s.closed, s.handshaking.count < Self.maxHandshaking else { return false }
                s.handshaking[incoming.token] = incoming
                return true
            }
            guard admitted else { continue }
            if self.provider.progress.register(raw, events: CSAN_TCP_EPOLLIN, token: incoming.token,
                                               target: incoming) != nil {
                self.forget(incoming)
                continue
            }
            self.provider.progress.startTicking(incoming.token, incoming)
        }
    }

    /// A HELLO arrived complete and well-formed: queue the connection for WSPAccept, or refuse it
    /// when the backlog is full.
    func helloReceived(_ incoming: Incoming) {
        self.provider.progress.unregister(incoming.fd.raw, token: incoming.token)
        enum Fate { case queued, full, gone }
        let fate = self.state.withLock { s -> Fate in
            guard s.handshaking.removeValue(forKey: incoming.token) != nil, !s.closed else { return .gone }
            guard s.ready.count < s.backlog else { return .full }
            s.ready.append(incoming)
            return .queued
        }
        switch fate {
        case .queued: self.context.signal(bit: FD_ACCEPT_BIT, error: nil)
        case .full: incoming.reply(.refuse, nonce: .zero, maxMessageSize: self.provider.config.maxMessageSize)
        case .gone: break
        }
    }

    /// Drops a connection that failed its handshake (bad HELLO, end of stream, timeout).
    func forget(_ incoming: Incoming) {
        self.provider.progress.unregister(incoming.fd.raw, token: incoming.token)
        self.state.withLock { _ = $0.handshaking.removeValue(forKey: incoming.token) }
    }

    /// The oldest connection waiting for WSPAccept, and whether others are still waiting.
    func takeReady() -> (Incoming, more: Bool)? {
        self.state.withLock { s in
            guard let first = s.ready.popFirst() else { return nil }
            return (first, !s.ready.isEmpty)
        }
    }

    /// WSPCloseSocket: stop accepting; refuse everyone still waiting.
    func close() {
        let (waiting, handshaking) = self.state.withLock { s -> ([Incoming], [Incoming]) in
            s.closed = true
            let r = (s.ready.drain(), Array(s.handshaking.values))
            s.handshaking.removeAll()
            return r
        }
        self.provider.progress.unregister(self.fd.raw, token: self.token)
        for i in handshaking { self.provider.progress.unregister(i.fd.raw, token: i.token) }
        for i in waiting { i.reply(.refuse, nonce: .zero, maxMessageSize: self.provider.config.maxMessageSize) }
    }
}

/// An accepted TCP connection reading its HELLO (progress thread only).
final class Incoming: PollTarget {
    let listener: Listener
    let fd: OwnedFD
    let peer: [UInt8]
    let deadline: UInt64
    let token: UInt64
    private let received = Mutex((bytes: [UInt8](repeating: 0, count: HandshakeMessage.size), count: 0))
    private let hello = Mutex<HandshakeMessage?>(nil)

    init(listener: Listener, fd: OwnedFD, peer: [UInt8], deadline: UInt64, token: UInt64) {
        self.listener = listener
        self.fd = fd
        self.peer = peer
        self.deadline = deadline
        self.token = token
    }

    /// The peer's HELLO (set before the connection is queued).
    var message: HandshakeMessage? { self.hello.withLock { $0 } }

    func handle(events: UInt32) {
        enum Step { case more, complete([UInt8]), failed }
        let step = self.received.withLock { r -> Step in
            let got = r.bytes.withUnsafeMutableBytes { Sys.read(self.fd.raw, $0.baseAddress! + r.count, $0.count - r.count) }
            switch got {
            case .done(let n):
                r.count += n
                return r.count == HandshakeMessage.size ? .complete(r.bytes) : .more
            case .wouldBlock: return .more
            case .endOfStream, .failed: return .failed
            }
        }
        switch step {
        case .more: return
        case .failed: self.listener.forget(self)
        case .complete(let bytes):
            switch HandshakeMessage.decode(bytes) {
            case .success(let m) where m.kind == .hello:
                self.hello.withLock { $0 = m }
                self.listener.helloReceived(self)
            case .failure(.unsupportedVersion):
                // A peer of another version: tell it in the version-independent bytes (it sees
                // a REFUSE of version 2 with the reason) and say so here, then hang up.
                let version = HandshakeMessage.peek(bytes)?.version ?? 0
                TCPLog.line("refused a connection from \(Sys.describe(address: self.peer)): it speaks wire protocol "
                    + "version \(version), this library speaks \(HandshakeMessage.version)")
                self.reply(.refuse, nonce: .zero, maxMessageSize: self.listener.provider.config.maxMessageSize,
                           reason: WireError.unsupportedVersion.rawValue)
                self.listener.forget(self)
            default:
                self.listener.forget(self)
            }
        }
    }

    func tick(now: UInt64) {
        if now > self.deadline { self.listener.forget(self) }
    }

    /// Sends the answer (32 bytes on a fresh socket: the send buffer always has room).
    func reply(_ kind: HandshakeMessage.Kind, nonce: Key128, maxMessageSize: UInt32, reason: UInt32 = 0) {
        let bytes = HandshakeMessage(kind: kind, nonce: nonce, maxMessageSize: maxMessageSize, reason: reason).bytes
        _ = bytes.withUnsafeBytes { Sys.write(self.fd.raw, $0.baseAddress!, $0.count) }
    }
}
