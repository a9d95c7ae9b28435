import CSanABI
import SanCore
import SanProviderKit
import Synchronization

/// The `tcp` provider: a software SAN over TCP in the spirit of soft-iWARP. Real sockets between
/// real processes; one-sided RDMA write and read served by a progress thread on the target, with
/// no help from the target application; RDMA descriptors that are capabilities (random keys,
/// bounds and access enforced by the target, revoked at deregistration, bound to one connection).
/// Wire protocol and checks: Docs/TCPProvider.md.
///
/// Threads: the application's threads call in; the progress thread (Progress.swift) accepts,
/// handshakes, and serves connections nobody else is reading. A thread waiting in
/// WSPGetOverlappedResult reads its connection itself (Waiting.swift), so a message costs one
/// wake-up, not two.
public final class TCPProvider: Sendable {
    public static let shared = TCPProvider()

    let startup = ProviderStartup(description: "sanreplay tcp provider (software RDMA over TCP)")
    /// SOCKET values 0x7Cxx_xxxx: recognisable in traces, and starting at a random offset so two
    /// instances of the library in one process (a test loading a private copy) never hand out
    /// the same value.
    let sockets = SocketTable<TCPSocket>(base: 0x7C00_0000 + UInt(Sys.randomKey().low & 0xFFFF) << 8)
    let completer = OverlappedCompleter()
    let config: TCPConfig
    let limits: SanSocketLimits
    let progress = ProgressEngine()

    private init() {
        self.config = TCPConfig.fromEnvironment()
        self.limits = SanSocketLimits(maxMessageSize: self.config.maxMessageSize, maxRdmaSize: self.config.maxRdmaSize,
                                      rdmaThreshold: self.config.rdmaThreshold)
    }

    var upcalls: ProviderUpcalls { self.startup.upcalls }
}

/// What a socket and, once connected, its connection share: the two handles, the upcall table,
/// the network events and the gate that keeps WPUCloseSocketHandle the last upcall.
final class SocketContext: Sendable {
    let value: SOCKET
    let switchSocket: SOCKET
    let upcalls: ProviderUpcalls
    let gate = UpcallGate()
    let events = NetworkEvents()

    init(value: SOCKET, switchSocket: SOCKET, upcalls: ProviderUpcalls) {
        self.value = value
        self.switchSocket = switchSocket
        self.upcalls = upcalls
    }

    /// Records network event `bit` and signals the selected event through WPUSetEvent, unless
    /// the socket is being closed.
    func signal(bit: Int32, error: WSAError?) {
        guard self.gate.enterUnlessClosing() else { return }
        self.events.signal(bit: bit, error: error, upcalls: self.upcalls)
        self.leaveGate()
    }

    /// Leaves the upcall gate and, if this was the last upcall after a close, closes the switch's
    /// handle.
    func leaveGate() {
        if self.gate.leave() { self.upcalls.closeSocketHandle(self.switchSocket) }
    }
}

/// A provider socket. Its phase is the SPI's state machine; the objects that do the work
/// (listener, connector, connection) hang off it.
final class TCPSocket: Sendable {
    enum Phase: Sendable {
        case created(OwnedFD)
        case bound(OwnedFD)
        case listening(Listener)
        case connecting(Connector)
        case connected(Connection)
        /// A connect failed; the switch closes the socket and falls back to TCP.
        case failed(WSAError)
        case closed
    }

    let context: SocketContext
    let family: Int32
    let phase: Mutex<Phase>

    init(context: SocketContext, family: Int32, phase: Phase) {
        self.context = context
        self.family = family
        self.phase = Mutex(phase)
    }

    /// The connection, when connected.
    var connection: Connection? {
        self.phase.withLock { if case .connected(let c) = $0 { return c } else { return nil } }
    }

    /// The descriptor of the socket in any phase that has one.
    var fd: Int32? {
        self.phase.withLock { p -> Int32? in
            switch p {
            case .created(let fd), .bound(let fd): return fd.raw
            case .listening(let l): return l.fd.raw
            case .connecting(let c): return c.fd.raw
            case .connected(let c): return c.fd.raw
            case .failed, .closed: return nil
            }
        }
    }
}
