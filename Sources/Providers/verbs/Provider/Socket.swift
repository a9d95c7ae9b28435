import CSanABI
import Glibc
import SanCore
import SanProviderKit
import Synchronization

/// A verbs SAN socket. Two locks, always taken in this order when both are needed:
/// `control` (life cycle: phase, addresses, options, listener, connect attempt) and `io` (the
/// connection's QP, registrations and outstanding work requests).
final class VerbsSocket: Sendable {
    enum Phase: Sendable, Equatable { case created, bound, listening, connecting, connected, closed }

    let value: SOCKET
    let switchSocket: SOCKET
    let events = NetworkEvents()
    /// WSPRegisterMemory handles (reference-counted per socket by the kit).
    let registrations = RegistrationTable()
    let control: Mutex<Control>
    let io = Mutex(DataState())
    /// Completions taken off the CQ but not yet reported; close waits for zero so that
    /// WPUCloseSocketHandle stays the socket's last upcall (reference §4.7).
    let deliveries = Atomic<Int>(0)

    init(value: SOCKET, switchSocket: SOCKET, phase: Phase, selection: VerbsSelection) {
        self.value = value
        self.switchSocket = switchSocket
        self.control = Mutex(Control(phase: phase, selection: selection))
    }

    var phase: Phase { self.control.withLock { $0.phase } }

    struct Control: Sendable {
        var phase: Phase
        /// What the socket options chose (fields left nil fall back to the environment).
        var selection: VerbsSelection
        var bound: VerbsSocketAddress?
        var listener: VerbsListener?
        /// A connect in progress: its cancel signal and, when nonblocking, its thread.
        var attempt: (cancel: VerbsSideChannel.Cancel, thread: pthread_t?)?
    }

    struct DataState {
        var connection: VerbsConnection?
        /// Set by a fatal completion (WSAECONNABORTED) or the peer's close (WSAECONNRESET); later
        /// calls report it.
        var failure: WSAError?
        /// Memory regions of WSPRegisterMemory, cached by range and access: a deregistered
        /// handle leaves its region registered until the cache callback or close (reference §5.2).
        var localRegions: [LocalRegionKey: LocalRegion] = [:]
        var handleRegions: [UInt: LocalRegionKey] = [:]
        /// WSPRegisterRdmaMemory regions by descriptor region id.
        var rdmaRegions: [UInt64: RdmaRegion] = [:]
        var nextRegion: UInt64 = 0
        var operations: [UInt64: PendingOperation] = [:]
        var nextRequest: UInt64 = 0
        var sendOutstanding = 0
        var receiveOutstanding = 0
        /// The next send waits for earlier RDMA reads (reference §1.7: that send may be the
        /// "done" message whose receiver then reuses the buffer the read is still filling).
        var fenceNextSend = false
    }

    struct LocalRegionKey: Hashable, Sendable {
        var base: UInt
        var length: UInt
        var access: VerbsAccess
    }

    struct LocalRegion {
        var region: VerbsMemoryRegion
        /// Live handles using it.
        var users: Int
        /// When it last lost its last user (for trimming the cache, oldest first).
        var idleSince: UInt64
    }

    struct RdmaRegion {
        var region: VerbsMemoryRegion
        var descriptor: VerbsDescriptor
        var references: Int
    }

    /// A posted work request.
    struct PendingOperation: Sendable {
        var overlapped: UInt
        var kind: VerbsOperationKind
        var postedLength: UInt32
        var handles: [UInt]
    }
}

/// An established connection: the QP and the side-channel TCP socket that signals the peer's
/// close.
final class VerbsConnection: @unchecked Sendable {
    let device: VerbsDevice
    let progress: VerbsProgress
    let queuePair: VerbsQueuePair
    let port: VerbsPortInfo
    let local: VerbsLocalPath
    let peer: VerbsEndpoint
    let sideChannel: Int32
    let localAddress: VerbsSocketAddress?
    let peerAddress: VerbsSocketAddress?

    init(device: VerbsDevice, progress: VerbsProgress, queuePair: VerbsQueuePair, port: VerbsPortInfo,
         local: VerbsLocalPath, peer: VerbsEndpoint, sideChannel: Int32) {
        self.device = device
        self.progress = progress
        self.queuePair = queuePair
        self.port = port
        self.local = local
        self.peer = peer
        self.sideChannel = sideChannel
        self.localAddress = VerbsSideChannel.address(of: sideChannel, peer: false)
        self.peerAddress = VerbsSideChannel.address(of: sideChannel, peer: true)
    }

    /// The largest send or RDMA request on this port (SO_MAX_MSG_SIZE / SO_MAX_RDMA_SIZE).
    var maxMessageSize: UInt32 { min(self.port.maxMessageSize, 1 << 30) }
}

/// A listening socket's TCP listener, its accept thread and the connection requests waiting
/// for WSPAccept.
final class VerbsListener: Sendable {
    struct Pending: Sendable {
        var fd: Int32
        var address: VerbsSocketAddress
        var request: VerbsEndpoint
    }

    let fd: Int32
    let backlog: Int
    let cancel: VerbsSideChannel.Cancel
    /// The selection accepted sockets use (the listener's options over the environment).
    let selection: VerbsSelection
    let pending = Mutex<[Pending]>([])
    let thread = Mutex<pthread_t?>(nil)

    init(fd: Int32, backlog: Int, cancel: VerbsSideChannel.Cancel, selection: VerbsSelection) {
        self.fd = fd
        self.backlog = backlog
        self.cancel = cancel
        self.selection = selection
    }
}
