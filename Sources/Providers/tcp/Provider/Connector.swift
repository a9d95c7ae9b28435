import CSanABI
import CSanSupport
import CSanTCP
import Glibc
import SanCore
import SanProviderKit
import Synchronization

/// An outgoing connection being set up (reference §4.2, active side): TCP connect, HELLO, then
/// the peer's ACCEPT or REFUSE — which comes only once the peer's application accepted. Driven
/// by the progress thread; the result is signalled through FD_CONNECT (nonblocking connect) or
/// wakes the thread blocked in WSPConnect.
final class Connector: PollTarget {
    enum Phase: Sendable {
        case connecting
        case awaitingReply([UInt8], Int)
        case done
    }

    let provider: TCPProvider
    let socket: TCPSocket
    let fd: OwnedFD
    let token: UInt64
    let nonce = Sys.randomKey()
    let deadline: UInt64
    let blocking: Bool
    let latch = Latch()
    private let phase = Mutex(Phase.connecting)
    private let outcome = Mutex<WSAError?>(nil)

    init(provider: TCPProvider, socket: TCPSocket, fd: OwnedFD, blocking: Bool) {
        self.provider = provider
        self.socket = socket
        self.fd = fd
        self.blocking = blocking
        self.token = provider.progress.newToken()
        self.deadline = csan_monotonic_ns() + UInt64(provider.config.connectTimeoutMilliseconds) * 1_000_000
    }

    /// The result once the latch is open: nil for success.
    var result: WSAError? { self.outcome.withLock { $0 } }

    /// Starts the TCP connect; an error that is known at once is returned (nothing registered).
    func start(_ address: UnsafePointer<sockaddr>, _ length: Int32) -> WSAError? {
        let e = Sys.connect(self.fd.raw, address, length)
        if let e, e != EINPROGRESS { return sanWSAError(errno: e) }
        if let e = self.provider.progress.register(self.fd.raw, events: CSAN_TCP_EPOLLOUT, token: self.token,
                                                   target: self) {
            return sanWSAError(errno: e)
        }
        self.provider.progress.startTicking(self.token, self)
        return nil
    }

    func handle(events: UInt32) {
        let current = self.phase.withLock { $0 }
        switch current {
        case .connecting:
            let error = Sys.socketError(self.fd.raw)
            guard error == 0 else { return self.finish(sanWSAError(errno: error)) }
            let hello = HandshakeMessage(kind: .hello, nonce: self.nonce,
                                         maxMessageSize: self.provider.config.maxMessageSize).bytes
            let sent = hello.withUnsafeBytes { Sys.write(self.fd.raw, $0.baseAddress!, $0.count) }
            guard sent == .done(HandshakeMessage.size) else { return self.finish(.connectionReset) }
            self.phase.withLock { $0 = .awaitingReply([UInt8](repeating: 0, count: HandshakeMessage.size), 0) }
            self.provider.progress.modify(self.fd.raw, events: CSAN_TCP_EPOLLIN, token: self.token)
        case .awaitingReply(var buffer, var count):
            // Read exactly the 32 reply bytes: whatever follows belongs to the connection.
            let got = buffer.withUnsafeMutableBytes { Sys.read(self.fd.raw, $0.baseAddress! + count, $0.count - count) }
            switch got {
            case .done(let n): count += n
            case .wouldBlock: return
            case .endOfStream:
                // No answer at all. A listener of wire protocol version 1 hangs up like this on
                // our HELLO; WSAECONNABORTED lets a switch fall back to TCP.
                let who = (try? Sys.name(self.fd.raw, peer: true).get()).map { Sys.describe(address: $0) } ?? "the listener"
                TCPLog.line("\(who) closed the connection during the handshake without answering (a listener of "
                    + "wire protocol version 1 does so when it gets a HELLO of version \(HandshakeMessage.version))")
                return self.finish(.connectionAborted)
            case .failed(let e): return self.finish(sanWSAError(errno: e))
            }
            guard count == HandshakeMessage.size else {
                self.phase.withLock { $0 = .awaitingReply(buffer, count) }
                return
            }
            switch HandshakeMessage.decode(buffer) {
            case .success(let m) where m.kind == .accept: self.establish(m)
            case .success(let m) where m.kind == .refuse && m.reason == 0: self.finish(.connectionRefused)
            case .success(let m) where m.kind == .refuse:
                // The listener does not speak our version: not a refusal by its application, so
                // not WSAECONNREFUSED (after which a switch would not fall back to TCP).
                self.versionMismatch(HandshakeMessage.version, refused: true)
            case .failure(.unsupportedVersion):
                self.versionMismatch(HandshakeMessage.peek(buffer)?.version ?? 0,
                                     refused: HandshakeMessage.peek(buffer)?.kind == HandshakeMessage.Kind.refuse.rawValue)
            default: self.finish(.connectionAborted)
            }
        case .done:
            return
        }
    }

    /// The listener speaks another protocol version (or refused ours): WSAECONNABORTED, and a
    /// line on stderr saying so.
    private func versionMismatch(_ theirs: UInt16, refused: Bool) {
        let peer = Sys.name(self.fd.raw, peer: true).map { Sys.describe(address: $0) }
        let who = (try? peer.get()) ?? "the listener"
        TCPLog.line(refused && theirs == HandshakeMessage.version
            ? "\(who) refused the connection: it does not speak wire protocol version \(theirs)"
            : "\(who) speaks wire protocol version \(theirs), this library speaks \(HandshakeMessage.version): "
                + "connection refused")
        self.finish(.connectionAborted)
    }

    func tick(now: UInt64) {
        if now > self.deadline { self.finish(.timedOut) }
    }

    /// WSPCloseSocket during the connect: ends it at once.
    func cancel() { self.finish(.interrupted, signal: false) }

    private func establish(_ reply: HandshakeMessage) {
        guard self.claim() else { return }
        let connection = Connection(provider: self.provider, context: self.socket.context, fd: self.fd,
                                    id: self.nonce ^ reply.nonce, peerMaxMessageSize: reply.maxMessageSize)
        // Watch the socket before publishing it: messages the peer sends right after its ACCEPT
        // are buffered as early messages.
        guard connection.activate() else { return self.fail(.networkDown, signal: true) }
        let published = self.socket.phase.withLock { p -> Bool in
            guard case .connecting = p else { return false }
            p = .connected(connection)
            return true
        }
        guard published else {
            connection.terminate(.operationAborted)
            return
        }
        self.report(nil, signal: true)
    }

    private func finish(_ error: WSAError, signal: Bool = true) {
        guard self.claim() else { return }
        self.fail(error, signal: signal)
    }

    private func fail(_ error: WSAError, signal: Bool) {
        self.socket.phase.withLock { p in
            if case .connecting = p { p = .failed(error) }
        }
        self.report(error, signal: signal)
    }

    /// Moves to `.done` once; false if someone else finished first.
    private func claim() -> Bool {
        let claimed = self.phase.withLock { p -> Bool in
            if case .done = p { return false }
            p = .done
            return true
        }
        if claimed { self.provider.progress.unregister(self.fd.raw, token: self.token) }
        return claimed
    }

    private func report(_ error: WSAError?, signal: Bool) {
        self.outcome.withLock { $0 = error }
        if signal && !self.blocking { self.socket.context.signal(bit: FD_CONNECT_BIT, error: error) }
        self.latch.open()
    }
}
