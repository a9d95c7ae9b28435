import CSanABI
import Glibc
import SanCore
import SanProviderKit

/// The registration extensions (reference §1.2–§1.5, §1.8, §5.2).
extension VerbsProvider {
    /// Unused local regions kept registered per socket before the oldest are deregistered (the
    /// cache saves re-registering the switch's buffers; unbounded, it would pin all memory).
    static let idleRegionLimit = 32

    func registerMemory(_ s: SOCKET, _ buffer: UnsafeMutableRawPointer?, _ length: UInt32, _ flags: UInt32,
                        _ lpErrno: UnsafeMutablePointer<Int32>?) -> UnsafeMutableRawPointer? {
        func fail(_ e: WSAError) -> UnsafeMutableRawPointer? {
            lpErrno?.pointee = e.rawValue
            return nil
        }
        guard let sock = self.sockets.lookup(s) else { return fail(.notSocket) }
        guard sock.phase == .connected else { return fail(.notConnected) }
        let access = SanAccess(rawValue: flags)
        let verbsAccess: VerbsAccess
        switch VerbsAccessMapping.local(access) {
        case .success(let a): verbsAccess = a
        case .failure(let e): return fail(e)
        }
        let base = UInt(bitPattern: buffer)
        let result = sock.io.withLock { d -> Result<UInt, WSAError> in
            guard let connection = d.connection else { return .failure(.notConnected) }
            let handle: UInt
            switch sock.registrations.register(base: base, length: UInt(length), access: access) {
            case .success(let h): handle = h
            case .failure(let e): return .failure(e)
            }
            if d.handleRegions[handle] != nil { return .success(handle) }  // another reference
            let key = VerbsSocket.LocalRegionKey(base: base, length: UInt(length), access: verbsAccess)
            if d.localRegions[key] == nil {
                switch connection.queuePair.register(address: base, length: UInt(length), access: verbsAccess) {
                case .success(let region): d.localRegions[key] = VerbsSocket.LocalRegion(region: region, users: 0, idleSince: 0)
                case .failure(let e):
                    _ = sock.registrations.deregister(handle: handle)
                    return .failure(Self.registrationError(e))
                }
            }
            d.localRegions[key]!.users += 1
            d.handleRegions[handle] = key
            return .success(handle)
        }
        switch result {
        case .success(let h):
            lpErrno?.pointee = 0
            return UnsafeMutableRawPointer(bitPattern: h)
        case .failure(let e): return fail(e)
        }
    }

    /// ibv_reg_mr's errno as the SPI reports it: a buffer outside the process (EFAULT, EINVAL) is
    /// WSAEFAULT; out of memory or of registrable memory (ENOMEM, EAGAIN, RLIMIT_MEMLOCK → EPERM)
    /// is WSAENOBUFS (reference §1.2).
    static func registrationError(_ e: VerbsError) -> WSAError {
        switch e.code {
        case EFAULT, EINVAL: return .fault
        default:
            VerbsLog.line(e.description)
            return .noBuffers
        }
    }

    func deregisterMemory(_ s: SOCKET, _ handle: UnsafeMutableRawPointer?, _ lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard let sock = self.sockets.lookup(s) else { return sanFail(lpErrno, .notSocket) }
        let h = UInt(bitPattern: handle)
        let error = sock.io.withLock { d -> WSAError? in
            if let e = sock.registrations.deregister(handle: h) { return e }
            // Last reference gone: the region stays cached, idle (reference §5.2, as IBSP does).
            if sock.registrations.lookup(handle: h) == nil, let key = d.handleRegions.removeValue(forKey: h) {
                d.localRegions[key]?.users -= 1
                if d.localRegions[key]?.users == 0 { d.localRegions[key]?.idleSince = verbsMonotonicNanoseconds() }
                Self.trimIdle(&d)
            }
            return nil
        }
        if let error { return sanFail(lpErrno, error) }
        lpErrno?.pointee = 0
        return 0
    }

    /// Deregisters the oldest idle local regions beyond ``idleRegionLimit``.
    private static func trimIdle(_ d: inout VerbsSocket.DataState) {
        let idle = d.localRegions.filter { $0.value.users == 0 }.sorted { $0.value.idleSince < $1.value.idleSince }
        for (key, entry) in idle.dropLast(Self.idleRegionLimit) {
            _ = entry.region.deregister()
            d.localRegions[key] = nil
        }
    }

    func registerRdmaMemory(_ s: SOCKET, _ buffer: UnsafeMutableRawPointer?, _ length: UInt32, _ flags: UInt32,
                            _ descriptor: UnsafeMutableRawPointer?, _ lpLength: UnsafeMutablePointer<UInt32>?,
                            _ lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard let sock = self.sockets.lookup(s) else { return sanFail(lpErrno, .notSocket) }
        guard sock.phase == .connected else { return sanFail(lpErrno, .notConnected) }
        let access = SanAccess(rawValue: flags)
        let verbsAccess: VerbsAccess
        switch VerbsAccessMapping.remote(access) {
        case .success(let a): verbsAccess = a
        case .failure(let e): return sanFail(lpErrno, e)
        }
        guard let lpLength else { return sanFail(lpErrno, .fault) }
        // The size probe (reference §1.4): too small a block gets WSAEFAULT and the size needed.
        guard let descriptor, lpLength.pointee >= UInt32(VerbsDescriptor.size) else {
            lpLength.pointee = UInt32(VerbsDescriptor.size)
            return sanFail(lpErrno, .fault)
        }
        let base = UInt(bitPattern: buffer)
        guard base != 0, length > 0, base &+ UInt(length) > base else { return sanFail(lpErrno, .fault) }
        let result = sock.io.withLock { d -> Result<VerbsDescriptor, WSAError> in
            guard let connection = d.connection else { return .failure(.notConnected) }
            if let (id, hit) = d.rdmaRegions.first(where: {
                $0.value.region.address == base && $0.value.region.length == UInt(length) && $0.value.descriptor.access == access
            }) {
                d.rdmaRegions[id]!.references += 1
                return .success(hit.descriptor)
            }
            // A region of its own, never shared with local registrations: deregistering it must
            // revoke exactly this rkey.
            switch connection.queuePair.register(address: base, length: UInt(length), access: verbsAccess) {
            case .success(let region):
                d.nextRegion += 1
                let desc = VerbsDescriptor(access: access, rkey: region.rkey, address: UInt64(base), length: UInt64(length),
                                           region: d.nextRegion)
                d.rdmaRegions[d.nextRegion] = VerbsSocket.RdmaRegion(region: region, descriptor: desc, references: 1)
                return .success(desc)
            case .failure(let e): return .failure(Self.registrationError(e))
            }
        }
        switch result {
        case .success(let desc):
            let bytes = desc.encoded()
            bytes.withUnsafeBytes { descriptor.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            lpLength.pointee = UInt32(VerbsDescriptor.size)
            lpErrno?.pointee = 0
            return 0
        case .failure(let e): return sanFail(lpErrno, e)
        }
    }

    func deregisterRdmaMemory(_ s: SOCKET, _ descriptor: UnsafeMutableRawPointer?, _ length: UInt32,
                              _ lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard let sock = self.sockets.lookup(s) else { return sanFail(lpErrno, .notSocket) }
        guard case .success(let desc) = VerbsDescriptor.decode(descriptor, length: length) else {
            return sanFail(lpErrno, .invalidArgument)
        }
        let ok = sock.io.withLock { d -> Bool in
            // The descriptor must be one this socket issued, unaltered.
            guard let entry = d.rdmaRegions[desc.region], entry.descriptor == desc else { return false }
            if entry.references > 1 {
                d.rdmaRegions[desc.region]!.references -= 1
            } else {
                // Final deregistration: the rkey dies with the region (reference §1.5, §5.2).
                _ = entry.region.deregister()
                d.rdmaRegions[desc.region] = nil
            }
            return true
        }
        guard ok else { return sanFail(lpErrno, .invalidArgument) }
        lpErrno?.pointee = 0
        return 0
    }

    /// WSPMemoryRegistrationCacheCallback: the range's mapping is about to change. Every region
    /// of every socket lying entirely inside it is deregistered — local handles, cached idle
    /// regions and RDMA regions alike (reference §1.8, as IBSP does; partial overlaps stay).
    func cacheCallback(_ address: UnsafeMutableRawPointer?, _ size: Int, _ lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        let base = UInt(bitPattern: address)
        let length = UInt(bitPattern: size)
        for sock in self.sockets.all {
            sock.io.withLock { d in
                sock.registrations.evict(inside: base, length: length)
                for (key, entry) in d.localRegions where entry.region.isInside(base: base, length: length) {
                    _ = entry.region.deregister()
                    d.localRegions[key] = nil
                }
                d.handleRegions = d.handleRegions.filter { d.localRegions[$0.value] != nil }
                for (id, entry) in d.rdmaRegions where entry.region.isInside(base: base, length: length) {
                    _ = entry.region.deregister()
                    d.rdmaRegions[id] = nil
                }
            }
        }
        lpErrno?.pointee = 0
        return 0
    }
}
