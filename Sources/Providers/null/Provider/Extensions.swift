import Glibc
import CSanABI
import SanCore
import SanProviderKit

/// The seven extensions handed out through WSPIoctl. The null provider supports all of them.
extension NullProvider {
    static let extensions: ExtensionTable = {
        var t = ExtensionTable()
        let registerMemory: LPFN_WSPREGISTERMEMORY = { s, buf, len, flags, err in
            NullProvider.shared.registerMemory(s, buf, len, flags, err)
        }
        let deregisterMemory: LPFN_WSPDEREGISTERMEMORY = { s, h, err in NullProvider.shared.deregisterMemory(s, h, err) }
        let registerRdma: LPFN_WSPREGISTERRDMAMEMORY = { s, buf, len, flags, desc, dlen, err in
            NullProvider.shared.registerRdmaMemory(s, buf, len, flags, desc, dlen, err)
        }
        let deregisterRdma: LPFN_WSPDEREGISTERRDMAMEMORY = { s, desc, dlen, err in
            NullProvider.shared.deregisterRdmaMemory(s, desc, dlen, err)
        }
        let rdmaWrite: LPFN_WSPRDMAWRITE = { s, bufs, n, desc, dlen, off, bytes, _, ov, _, _, err in
            NullProvider.shared.rdma(s, bufs, n, desc, dlen, off, bytes, ov, isWrite: true, err)
        }
        let rdmaRead: LPFN_WSPRDMAREAD = { s, bufs, n, desc, dlen, off, bytes, _, ov, _, _, err in
            NullProvider.shared.rdma(s, bufs, n, desc, dlen, off, bytes, ov, isWrite: false, err)
        }
        let cacheCallback: LPFN_WSPMEMORYREGISTRATIONCACHECALLBACK = { addr, size, err in
            NullProvider.shared.cacheCallback(addr, size, err)
        }
        t.set(.registerMemory, unsafeBitCast(registerMemory, to: UnsafeRawPointer.self))
        t.set(.deregisterMemory, unsafeBitCast(deregisterMemory, to: UnsafeRawPointer.self))
        t.set(.registerRdmaMemory, unsafeBitCast(registerRdma, to: UnsafeRawPointer.self))
        t.set(.deregisterRdmaMemory, unsafeBitCast(deregisterRdma, to: UnsafeRawPointer.self))
        t.set(.rdmaWrite, unsafeBitCast(rdmaWrite, to: UnsafeRawPointer.self))
        t.set(.rdmaRead, unsafeBitCast(rdmaRead, to: UnsafeRawPointer.self))
        t.set(.memoryRegistrationCacheCallback, unsafeBitCast(cacheCallback, to: UnsafeRawPointer.self))
        return t
    }()

    func ioctl(_ s: SOCKET, _ code: UInt32, _ input: UnsafeMutableRawPointer?, _ inLength: UInt32,
               _ output: UnsafeMutableRawPointer?, _ outLength: UInt32, _ returned: UnsafeMutablePointer<UInt32>?,
               _ lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        if let r = Self.extensions.handle(code: code, input: input, inputLength: inLength, output: output,
                                          outputLength: outLength, bytesReturned: returned, lpErrno: lpErrno) {
            return r
        }
        guard self.sockets.lookup(s) != nil else { return sanFail(lpErrno, .notSocket) }
        if code == SIO_ADDRESS_LIST_QUERY {
            var loop = sockaddr_in()
            loop.sin_family = sa_family_t(AF_INET)
            loop.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
            let bytes = withUnsafeBytes(of: &loop) { Array($0) }
            return sanAnswerAddressListQuery(addresses: [bytes], output: output, outputLength: outLength,
                                             bytesReturned: returned, lpErrno: lpErrno)
        }
        return sanFail(lpErrno, .invalidArgument)
    }
}
