import CSanABI
import SanCore
import SanProviderKit

/// The registration extensions.
extension NullProvider {
    func registerMemory(_ s: SOCKET, _ buffer: UnsafeMutableRawPointer?, _ length: UInt32, _ flags: UInt32,
                        _ lpErrno: UnsafeMutablePointer<Int32>?) -> UnsafeMutableRawPointer? {
        let sock: NullSocket
        switch self.connected(s) {
        case .success(let x): sock = x
        case .failure(let e):
            lpErrno?.pointee = e.rawValue
            return nil
        }
        switch sock.registrations.register(base: UInt(bitPattern: buffer), length: UInt(length),
                                           access: SanAccess(rawValue: flags)) {
        case .success(let h):
            lpErrno?.pointee = 0
            return UnsafeMutableRawPointer(bitPattern: h)
        case .failure(let e):
            lpErrno?.pointee = e.rawValue
            return nil
        }
    }

    func deregisterMemory(_ s: SOCKET, _ handle: UnsafeMutableRawPointer?, _ lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard let sock = self.sockets.lookup(s) else { return sanFail(lpErrno, .notSocket) }
        if let e = sock.registrations.deregister(handle: UInt(bitPattern: handle)) { return sanFail(lpErrno, e) }
        return 0
    }

    func registerRdmaMemory(_ s: SOCKET, _ buffer: UnsafeMutableRawPointer?, _ length: UInt32, _ flags: UInt32,
                            _ descriptor: UnsafeMutableRawPointer?, _ lpLength: UnsafeMutablePointer<UInt32>?,
                            _ lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard case .success = self.connected(s) else {
            return sanFail(lpErrno, self.sockets.lookup(s) == nil ? .notSocket : .notConnected)
        }
        let access = SanAccess(rawValue: flags)
        guard access.isValid else { return sanFail(lpErrno, .invalidArgument) }
        guard let lpLength else { return sanFail(lpErrno, .fault) }
        // The size probe (reference §1.4): too small a block gets WSAEFAULT and the size needed.
        guard let descriptor, lpLength.pointee >= UInt32(NullDescriptor.size) else {
            lpLength.pointee = UInt32(NullDescriptor.size)
            return sanFail(lpErrno, .fault)
        }
        let base = UInt(bitPattern: buffer)
        guard base != 0, length > 0 else { return sanFail(lpErrno, .fault) }
        let region = self.rdma.withLock { r -> UInt64 in
            if let hit = r.regions.first(where: {
                $0.value.socket == s && $0.value.base == base && $0.value.length == UInt(length) && $0.value.access == flags
            }) {
                r.regions[hit.key]!.refs += 1
                return hit.key
            }
            r.next += 1
            r.regions[r.next] = (s, base, UInt(length), flags, 1)
            return r.next
        }
        NullDescriptor(region: region, length: UInt64(length), access: flags).encode(into: descriptor)
        lpLength.pointee = UInt32(NullDescriptor.size)
        lpErrno?.pointee = 0
        return 0
    }

    func deregisterRdmaMemory(_ s: SOCKET, _ descriptor: UnsafeMutableRawPointer?, _ length: UInt32,
                              _ lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard self.sockets.lookup(s) != nil else { return sanFail(lpErrno, .notSocket) }
        guard let desc = NullDescriptor(descriptor, length: length) else { return sanFail(lpErrno, .invalidArgument) }
        let ok = self.rdma.withLock { r -> Bool in
            guard var reg = r.regions[desc.region], reg.socket == s else { return false }
            reg.refs -= 1
            r.regions[desc.region] = reg.refs == 0 ? nil : reg
            return true
        }
        return ok ? 0 : sanFail(lpErrno, .invalidArgument)
    }

    func cacheCallback(_ address: UnsafeMutableRawPointer?, _ size: Int, _ lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        let base = UInt(bitPattern: address)
        for sock in self.sockets.all { sock.registrations.evict(inside: base, length: UInt(size)) }
        self.rdma.withLock { r in
            r.regions = r.regions.filter { !($0.value.base >= base && $0.value.base + $0.value.length <= base + UInt(size)) }
        }
        return 0
    }
}
