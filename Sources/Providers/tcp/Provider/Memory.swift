import CSanABI
import SanCore
import SanProviderKit

/// The registration extensions: WSPRegisterMemory / WSPDeregisterMemory (local, the Kit's
/// RegistrationTable), WSPRegisterRdmaMemory / WSPDeregisterRdmaMemory (the connection's
/// regions and their descriptors) and WSPMemoryRegistrationCacheCallback.
extension TCPProvider {
    func registerMemory(_ s: SOCKET, _ buffer: UnsafeMutableRawPointer?, _ length: UInt32, _ flags: UInt32,
                        _ lpErrno: UnsafeMutablePointer<Int32>?) -> UnsafeMutableRawPointer? {
        let conn: Connection
        switch self.connected(s) {
        case .success(let c): conn = c
        case .failure(let e):
            lpErrno?.pointee = e.rawValue
            return nil
        }
        switch conn.registrations.register(base: UInt(bitPattern: buffer), length: UInt(length),
                                           access: SanAccess(rawValue: flags)) {
        case .success(let handle):
            lpErrno?.pointee = 0
            return UnsafeMutableRawPointer(bitPattern: handle)
        case .failure(let e):
            lpErrno?.pointee = e.rawValue
            return nil
        }
    }

    func deregisterMemory(_ s: SOCKET, _ handle: UnsafeMutableRawPointer?, _ lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard let sock = self.sockets.lookup(s) else { return sanFail(lpErrno, .notSocket) }
        guard let conn = sock.connection else { return sanFail(lpErrno, .invalidArgument) }
        if let e = conn.registrations.deregister(handle: UInt(bitPattern: handle)) { return sanFail(lpErrno, e) }
        lpErrno?.pointee = 0
        return 0
    }

    func registerRdmaMemory(_ s: SOCKET, _ buffer: UnsafeMutableRawPointer?, _ length: UInt32, _ flags: UInt32,
                            _ descriptor: UnsafeMutableRawPointer?, _ lpLength: UnsafeMutablePointer<UInt32>?,
                            _ lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        let conn: Connection
        switch self.connected(s) {
        case .success(let c): conn = c
        case .failure(let e): return sanFail(lpErrno, e)
        }
        let access = SanAccess(rawValue: flags)
        guard access.isValid else { return sanFail(lpErrno, .invalidArgument) }
        guard let lpLength else { return sanFail(lpErrno, .fault) }
        // The size probe (reference §1.4): too small a block gets WSAEFAULT and the size needed.
        guard let descriptor, lpLength.pointee >= UInt32(RdmaDescriptor.size) else {
            lpLength.pointee = UInt32(RdmaDescriptor.size)
            return sanFail(lpErrno, .fault)
        }
        let base = UInt(bitPattern: buffer)
        guard base != 0, length > 0, base <= UInt.max - UInt(length) else { return sanFail(lpErrno, .fault) }
        let region = conn.regions.register(base: base, length: UInt64(length), access: access)
        RdmaDescriptor(access: access, connection: conn.id, region: region.id, length: UInt64(length),
                       key: region.grant.key).encode(into: descriptor)
        lpLength.pointee = UInt32(RdmaDescriptor.size)
        lpErrno?.pointee = 0
        return 0
    }

    func deregisterRdmaMemory(_ s: SOCKET, _ descriptor: UnsafeMutableRawPointer?, _ length: UInt32,
                              _ lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard let sock = self.sockets.lookup(s) else { return sanFail(lpErrno, .notSocket) }
        guard let conn = sock.connection,
              case .success(let d) = RdmaDescriptor.decode(descriptor, length: length),
              d.connection == conn.id, conn.regions.deregister(d)
        else { return sanFail(lpErrno, .invalidArgument) }
        lpErrno?.pointee = 0
        return 0
    }

    /// Evicts every registration lying entirely inside the range, local and RDMA, on every
    /// socket (reference §1.8, as IBSP does); RDMA regions are revoked whatever their count.
    func cacheCallback(_ address: UnsafeMutableRawPointer?, _ size: Int, _ lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        let base = UInt(bitPattern: address)
        for sock in self.sockets.all {
            guard let conn = sock.connection else { continue }
            conn.registrations.evict(inside: base, length: UInt(size))
            conn.regions.evict(inside: base, length: UInt(size))
        }
        lpErrno?.pointee = 0
        return 0
    }
}
