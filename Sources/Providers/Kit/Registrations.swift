import CSanABI
import SanCore
import Synchronization

/// One WSPRegisterMemory registration (reference §1.2): a range of the application's memory and
/// what the provider may do with it locally (MEM_READ: read it as a source of sends and RDMA
/// writes; MEM_WRITE: write it as the sink of receives and RDMA reads).
public struct LocalRegistration: Sendable, Equatable {
    /// The HANDLE value given to the application.
    public var handle: UInt
    public var base: UInt
    public var length: UInt
    public var access: SanAccess
    /// How many WSPRegisterMemory calls for the same range and access this handle stands for.
    public var references: Int
    /// How many started operations use it (a final deregistration then fails with WSAEINVAL).
    public var pins: Int

    /// True when [address, address+count) lies inside the registration.
    @inlinable
    public func contains(address: UInt, count: UInt) -> Bool {
        address >= self.base && count <= self.length && address - self.base <= self.length - count
    }
}

/// The WSPRegisterMemory handles of one socket, reference-counted (reference §1.2, §1.3, §4.4).
///
/// Handle values are unique in the process and never reused, so a handle from another socket or
/// a stale one is answered with WSAEINVAL instead of being trusted.
public final class RegistrationTable: Sendable {
    private static let nextHandle = Atomic<UInt>(0x4800_0000)
    private let state = Mutex([UInt: LocalRegistration]())

    public init() {}

    /// WSPRegisterMemory: the same (range, access) on the same socket returns the same handle
    /// with one more reference.
    public func register(base: UInt, length: UInt, access: SanAccess) -> Result<UInt, WSAError> {
        guard access.isValid else { return .failure(.invalidArgument) }
        guard base != 0, length > 0, base &+ length > base else { return .failure(.fault) }
        return self.state.withLock { regs in
            if let hit = regs.values.first(where: { $0.base == base && $0.length == length && $0.access == access }) {
                regs[hit.handle]!.references += 1
                return .success(hit.handle)
            }
            let handle = Self.nextHandle.add(16, ordering: .relaxed).newValue
            regs[handle] = LocalRegistration(handle: handle, base: base, length: length, access: access,
                                             references: 1, pins: 0)
            return .success(handle)
        }
    }

    /// WSPDeregisterMemory: drops one reference; WSAEINVAL for an unknown handle or when the last
    /// reference is still used by a started operation.
    public func deregister(handle: UInt) -> WSAError? {
        self.state.withLock { regs in
            guard var reg = regs[handle] else { return .invalidArgument }
            if reg.references == 1 && reg.pins > 0 { return .invalidArgument }
            reg.references -= 1
            regs[handle] = reg.references == 0 ? nil : reg
            return nil
        }
    }

    /// The registration for a handle.
    public func lookup(handle: UInt) -> LocalRegistration? { self.state.withLock { $0[handle] } }

    /// Checks one WSABUFEX entry: known handle, range inside it, and the access the operation
    /// needs. Returns the registration or the WSA error to report (WSAEINVAL for a bad handle,
    /// WSAEFAULT for a range or access violation).
    public func check(handle: UInt, address: UInt, count: UInt, needs: SanAccess) -> Result<LocalRegistration, WSAError> {
        guard let reg = self.lookup(handle: handle) else { return .failure(.invalidArgument) }
        guard reg.contains(address: address, count: count) else { return .failure(.fault) }
        guard reg.access.contains(needs) else { return .failure(.fault) }
        return .success(reg)
    }

    /// Finds a registration covering a plain WSABUF (WSPSend/WSPRecv carry no handle, so the
    /// provider looks the range up, as IBSP's lookup_partial_mr does).
    public func covering(address: UInt, count: UInt, needs: SanAccess) -> LocalRegistration? {
        self.state.withLock { regs in
            regs.values.first { $0.access.contains(needs) && $0.contains(address: address, count: max(count, 1)) }
        }
    }

    /// Pins or unpins a handle for the duration of an operation.
    public func pin(_ handle: UInt, _ delta: Int) {
        self.state.withLock { regs in
            if regs[handle] != nil { regs[handle]!.pins += delta }
        }
    }

    /// WSPMemoryRegistrationCacheCallback: removes every registration lying entirely inside
    /// [base, base+length) (as IBSP does; partial overlaps stay). Returns how many went.
    @discardableResult
    public func evict(inside base: UInt, length: UInt) -> Int {
        self.state.withLock { regs in
            let end = base &+ length
            let victims = regs.values.filter { $0.base >= base && $0.base &+ $0.length <= end }
            for v in victims { regs[v.handle] = nil }
            return victims.count
        }
    }

    /// Every registration, for diagnostics and close.
    public var all: [LocalRegistration] { self.state.withLock { Array($0.values) } }

    /// Drops everything (socket close).
    public func removeAll() { self.state.withLock { $0.removeAll() } }
}
