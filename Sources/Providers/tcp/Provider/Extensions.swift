import CSanABI
import Glibc
import SanCore
import SanProviderKit

/// The seven extensions handed out through WSPIoctl, and the other ioctls. The tcp provider
/// supports all of them, including the optional WSPRdmaRead and the cache callback.
extension TCPProvider {
    static let extensions: ExtensionTable = {
        var t = ExtensionTable()
        let registerMemory: LPFN_WSPREGISTERMEMORY = { s, buf, len, flags, err in
            TCPProvider.shared.registerMemory(s, buf, len, flags, err)
        }
        let deregisterMemory: LPFN_WSPDEREGISTERMEMORY = { s, h, err in TCPProvider.shared.deregisterMemory(s, h, err) }
        let registerRdma: LPFN_WSPREGISTERRDMAMEMORY = { s, buf, len, flags, desc, dlen, err in
            TCPProvider.shared.registerRdmaMemory(s, buf, len, flags, desc, dlen, err)
        }
        let deregisterRdma: LPFN_WSPDEREGISTERRDMAMEMORY = { s, desc, dlen, err in
            TCPProvider.shared.deregisterRdmaMemory(s, desc, dlen, err)
        }
        let rdmaWrite: LPFN_WSPRDMAWRITE = { s, bufs, n, desc, dlen, off, bytes, _, ov, _, _, err in
            TCPProvider.shared.rdma(s, bufs, n, desc, dlen, off, bytes, ov, isWrite: true, err)
        }
        let rdmaRead: LPFN_WSPRDMAREAD = { s, bufs, n, desc, dlen, off, bytes, _, ov, _, _, err in
            TCPProvider.shared.rdma(s, bufs, n, desc, dlen, off, bytes, ov, isWrite: false, err)
        }
        let cacheCallback: LPFN_WSPMEMORYREGISTRATIONCACHECALLBACK = { addr, size, err in
            TCPProvider.shared.cacheCallback(addr, size, err)
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
        // The socket is not looked at for extension lookups: the switch passes INVALID_SOCKET.
        if let r = Self.extensions.handle(code: code, input: input, inputLength: inLength, output: output,
                                          outputLength: outLength, bytesReturned: returned, lpErrno: lpErrno) {
            return r
        }
        guard self.sockets.lookup(s) != nil else { return sanFail(lpErrno, .notSocket) }
        if code == SIO_ADDRESS_LIST_QUERY {
            return sanAnswerAddressListQuery(addresses: Sys.interfaceAddresses(), output: output,
                                             outputLength: outLength, bytesReturned: returned, lpErrno: lpErrno)
        }
        return sanFail(lpErrno, .invalidArgument)
    }
}
