import CSanABI
import SanCore
import SanProviderKit
import Synchronization

/// The `null` provider: a SAN provider for measurement and dry replays. Every call is checked as
/// a real provider checks it (sockets, registrations, access, descriptors, bounds) and then
/// completes inline: connects and accepts succeed against a phantom peer, sends and RDMA writes
/// report their full length, receives and RDMA reads report the full buffer length without
/// touching the memory. Overlapped operations are completed before the call returns and the call
/// still returns SOCKET_ERROR with WSA_IO_PENDING, so callers take the same path as with `tcp`.
public final class NullProvider: Sendable {
    public static let shared = NullProvider()

    let startup = ProviderStartup(description: "sanreplay null provider (inline completion, no data movement)")
    let sockets = SocketTable<NullSocket>(base: 0x4E00_0000)
    let completer = OverlappedCompleter()
    let limits = SanSocketLimits(maxMessageSize: 1 << 20, maxRdmaSize: 1 << 30, rdmaThreshold: 4096)
    let rdma = Mutex(RdmaRegions())

    var upcalls: ProviderUpcalls { self.startup.upcalls }
}

/// A null socket: its state machine is the SPI's (created → bound → listening | connected).
public final class NullSocket: Sendable {
    enum Phase: Sendable { case created, bound, listening, connected, closed }
    let value: SOCKET
    let switchSocket: SOCKET
    let phase: Mutex<Phase>
    let events = NetworkEvents()
    let registrations = RegistrationTable()

    init(value: SOCKET, switchSocket: SOCKET, phase: Phase) {
        self.value = value
        self.switchSocket = switchSocket
        self.phase = Mutex(phase)
    }
}

/// The null provider's RDMA descriptor: 24 bytes, self-describing so a peer needs no lookup.
struct NullDescriptor {
    static let magic: UInt32 = 0x4C55_4E53  // "SNUL"
    static let size = 24
    var region: UInt64
    var length: UInt64
    var access: UInt32

    func encode(into p: UnsafeMutableRawPointer) {
        p.storeBytes(of: Self.magic.littleEndian, toByteOffset: 0, as: UInt32.self)
        p.storeBytes(of: self.access.littleEndian, toByteOffset: 4, as: UInt32.self)
        p.storeBytes(of: self.region.littleEndian, toByteOffset: 8, as: UInt64.self)
        p.storeBytes(of: self.length.littleEndian, toByteOffset: 16, as: UInt64.self)
    }

    init(region: UInt64, length: UInt64, access: UInt32) {
        self.region = region
        self.length = length
        self.access = access
    }

    init?(_ p: UnsafeRawPointer?, length: UInt32) {
        guard let p, length == UInt32(Self.size) else { return nil }
        guard UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 0, as: UInt32.self)) == Self.magic else { return nil }
        self.access = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        self.region = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        self.length = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
    }
}

/// RDMA registrations of every null socket: region id → (socket, reference count).
struct RdmaRegions {
    var next: UInt64 = 0
    var regions: [UInt64: (socket: SOCKET, base: UInt, length: UInt, access: UInt32, refs: Int)] = [:]
}
