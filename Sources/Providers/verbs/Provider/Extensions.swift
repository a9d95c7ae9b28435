import Glibc
import CSanABI
import SanCore
import SanProviderKit

/// The seven extensions handed out through WSPIoctl. The verbs provider supports all of them,
/// RDMA read and the cache callback included.
extension VerbsProvider {
    static let extensions: ExtensionTable = {
        var t = ExtensionTable()
        let registerMemory: LPFN_WSPREGISTERMEMORY = { s, buf, len, flags, err in
            VerbsProvider.shared.registerMemory(s, buf, len, flags, err)
        }
        let deregisterMemory: LPFN_WSPDEREGISTERMEMORY = { s, h, err in VerbsProvider.shared.deregisterMemory(s, h, err) }
        let registerRdma: LPFN_WSPREGISTERRDMAMEMORY = { s, buf, len, flags, desc, dlen, err in
            VerbsProvider.shared.registerRdmaMemory(s, buf, len, flags, desc, dlen, err)
        }
        let deregisterRdma: LPFN_WSPDEREGISTERRDMAMEMORY = { s, desc, dlen, err in
            VerbsProvider.shared.deregisterRdmaMemory(s, desc, dlen, err)
        }
        let rdmaWrite: LPFN_WSPRDMAWRITE = { s, bufs, n, desc, dlen, off, bytes, _, ov, _, _, err in
            VerbsProvider.shared.rdma(s, bufs, n, desc, dlen, off, bytes, ov, isWrite: true, err)
        }
        let rdmaRead: LPFN_WSPRDMAREAD = { s, bufs, n, desc, dlen, off, bytes, _, ov, _, _, err in
            VerbsProvider.shared.rdma(s, bufs, n, desc, dlen, off, bytes, ov, isWrite: false, err)
        }
        let cacheCallback: LPFN_WSPMEMORYREGISTRATIONCACHECALLBACK = { addr, size, err in
            VerbsProvider.shared.cacheCallback(addr, size, err)
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
            // The IP addresses of the network interfaces behind the default port: the switch
            // sends connections to these addresses over this provider (reference §4.1).
            var addresses: [[UInt8]] = []
            if case .success(let d) = self.defaults() {
                addresses = VerbsAddresses.of(device: d.device.name, port: d.port.number).map(\.bytes)
            }
            return sanAnswerAddressListQuery(addresses: addresses, output: output, outputLength: outLength,
                                             bytesReturned: returned, lpErrno: lpErrno)
        }
        return sanFail(lpErrno, .invalidArgument)
    }
}
