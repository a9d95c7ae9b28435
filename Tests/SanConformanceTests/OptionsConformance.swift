import CSanABI
import SanCore
import SanSwitch
import Testing

/// Socket options and SIO_ADDRESS_LIST_QUERY (Docs/Conformance.md §7).
@Suite struct OptionsConformance {
    @Test(arguments: Conformance.providers)
    func sanSocketOptions(_ name: String) throws {
        let p = try Conformance.subject(name).provider
        let pair = try Pair(p)
        defer { pair.close() }
        let s = pair.client
        let maxMessage = try s.option(SO_MAX_MSG_SIZE)
        let maxRdma = try s.option(SO_MAX_RDMA_SIZE)
        let threshold = try s.option(SO_RDMA_THRESHOLD_SIZE)
        #expect(maxMessage >= 256, "SO_MAX_MSG_SIZE holds at least a 256-byte session message")
        #expect(maxRdma > 0)
        #expect(threshold > 0)
        #expect(throws: SanSwitchError.call(function: "WSPGetSockOpt", error: .noProtocolOption)) {
            _ = try s.option(0x7FFF)
        }
        var small: UInt16 = 0
        var len: Int32 = 2
        var err: Int32 = 0
        let rc = withUnsafeMutableBytes(of: &small) {
            p.procs.lpWSPGetSockOpt!(s.value, SOL_SOCKET_WSA, SO_MAX_MSG_SIZE, $0.baseAddress!.assumingMemoryBound(to: CChar.self), &len, &err)
        }
        #expect(rc != 0 && err == WSAEFAULT, "optlen below 4: WSAEFAULT")
        // A send longer than SO_MAX_MSG_SIZE is refused with WSAEMSGSIZE.
        if maxMessage < 64 << 20 {
            let mem = Memory(Int(maxMessage) + 1)
            defer { mem.free() }
            let reg = try s.register(mem.bytes, access: .read)
            #expect(throws: SanSwitchError.call(function: "WSPSend", error: .messageSize)) {
                try s.send([reg.buffer()], operation: SanOperation())
            }
            try s.deregister(reg)
        }
    }

    @Test(arguments: Conformance.providers)
    func addressListQuery(_ name: String) throws {
        let p = try Conformance.subject(name).provider
        let s = try SanSocket(provider: p)
        defer { try? s.close() }
        let addresses = try s.addressList()
        #expect(!addresses.isEmpty, "SIO_ADDRESS_LIST_QUERY lists at least one address")
        for a in addresses { #expect(a.family == AF_INET || a.family == AF_INET6, "\(a)") }
        let tooSmall = s.ioctl(SIO_ADDRESS_LIST_QUERY, outputLength: 4)
        #expect(tooSmall.error == .fault, "a buffer too small: WSAEFAULT")
        #expect(tooSmall.bytesReturned > 4, "… and the size needed in lpcbBytesReturned")
    }
}
