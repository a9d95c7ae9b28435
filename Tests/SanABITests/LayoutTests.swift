import CSanABI
import SanCore
import Testing

/// The Linux port keeps the reference's x86-64 layouts (reference §2, §5.1; Sources/CSanABI/abi_asserts.c
/// checks the same numbers at compile time for C).
@Suite struct LayoutTests {
    @Test func structSizes() {
        #expect(MemoryLayout<WSABUF>.size == 16)
        #expect(MemoryLayout<WSABUFEX>.size == 24)
        #expect(MemoryLayout<WSAOVERLAPPED>.size == 32)
        #expect(MemoryLayout<WSATHREADID>.size == 16)
        #expect(MemoryLayout<WSPPROC_TABLE>.size == 240)
        #expect(MemoryLayout<WSPUPCALLTABLEEX>.size == 128)
        #expect(MemoryLayout<WSPDATA>.size == 516)
        #expect(MemoryLayout<WSAPROTOCOL_INFOW>.size == 628)
        #expect(MemoryLayout<GUID>.size == 16)
        #expect(MemoryLayout<QOS>.size == 80)
        #expect(MemoryLayout<WSANETWORKEVENTS>.size == 44)
        #expect(MemoryLayout<SOCKET>.size == 8)
        #expect(csan_abi_proc_table_size() == 240)
    }

    @Test func offsetsThatMatter() {
        #expect(MemoryLayout<WSABUFEX>.offset(of: \.len) == 0)
        #expect(MemoryLayout<WSABUFEX>.offset(of: \.buf) == 8)
        #expect(MemoryLayout<WSABUFEX>.offset(of: \.handle) == 16)
        #expect(MemoryLayout<WSAOVERLAPPED>.offset(of: \.Internal) == 0)
        #expect(MemoryLayout<WSAOVERLAPPED>.offset(of: \.InternalHigh) == 8)
        // Offset and OffsetHigh sit in an anonymous union, which Swift imports as computed
        // properties: find them by writing through them and looking at the bytes.
        #expect(Self.byteOffset { $0.Offset = 0xA5A5_A5A5 } == 16)
        #expect(Self.byteOffset { $0.OffsetHigh = 0xA5A5_A5A5 } == 20)
        #expect(MemoryLayout<WSAOVERLAPPED>.offset(of: \.hEvent) == 24)
        #expect(MemoryLayout<WSPUPCALLTABLEEX>.offset(of: \.lpWPUCompleteOverlappedRequest) == 120)
        #expect(MemoryLayout<WSPUPCALLTABLEEX>.offset(of: \.lpWPUCloseEvent) == 0)
        #expect(MemoryLayout<WSPPROC_TABLE>.offset(of: \.lpWSPAccept) == 0)
        #expect(MemoryLayout<WSPPROC_TABLE>.offset(of: \.lpWSPIoctl) == 16 * 8)
        #expect(MemoryLayout<WSPPROC_TABLE>.offset(of: \.lpWSPStringToAddress) == 29 * 8)
        #expect(MemoryLayout<WSAPROTOCOL_INFOW>.offset(of: \.dwProviderReserved) == 112)
        #expect(MemoryLayout<WSAPROTOCOL_INFOW>.offset(of: \.szProtocol) == 116)
        #expect(MemoryLayout<WSPDATA>.offset(of: \.szDescription) == 4)
    }

    static func byteOffset(_ write: (inout WSAOVERLAPPED) -> Void) -> Int? {
        var ov = WSAOVERLAPPED()
        write(&ov)
        return withUnsafeBytes(of: &ov) { raw in raw.firstIndex(of: 0xA5) }
    }

    /// Every slot in table order, by key path: a reordered header fails here.
    @Test func procTableSlotOrder() {
        let paths: [PartialKeyPath<WSPPROC_TABLE>] = [
            \.lpWSPAccept, \.lpWSPAddressToString, \.lpWSPAsyncSelect, \.lpWSPBind, \.lpWSPCancelBlockingCall,
            \.lpWSPCleanup, \.lpWSPCloseSocket, \.lpWSPConnect, \.lpWSPDuplicateSocket, \.lpWSPEnumNetworkEvents,
            \.lpWSPEventSelect, \.lpWSPGetOverlappedResult, \.lpWSPGetPeerName, \.lpWSPGetSockName,
            \.lpWSPGetSockOpt, \.lpWSPGetQOSByName, \.lpWSPIoctl, \.lpWSPJoinLeaf, \.lpWSPListen, \.lpWSPRecv,
            \.lpWSPRecvDisconnect, \.lpWSPRecvFrom, \.lpWSPSelect, \.lpWSPSend, \.lpWSPSendDisconnect,
            \.lpWSPSendTo, \.lpWSPSetSockOpt, \.lpWSPShutdown, \.lpWSPSocket, \.lpWSPStringToAddress,
        ]
        #expect(paths.count == SanProcSlot.allCases.count)
        for (i, p) in paths.enumerated() {
            #expect(MemoryLayout<WSPPROC_TABLE>.offset(of: p) == i * 8, "slot \(i) \(SanProcSlot(rawValue: i)!)")
        }
    }

    @Test func upcallTableSlotOrder() {
        let paths: [PartialKeyPath<WSPUPCALLTABLEEX>] = [
            \.lpWPUCloseEvent, \.lpWPUCloseSocketHandle, \.lpWPUCreateEvent, \.lpWPUCreateSocketHandle,
            \.lpWPUFDIsSet, \.lpWPUGetProviderPath, \.lpWPUModifyIFSHandle, \.lpWPUPostMessage,
            \.lpWPUQueryBlockingCallback, \.lpWPUQuerySocketHandleContext, \.lpWPUQueueApc, \.lpWPUResetEvent,
            \.lpWPUSetEvent, \.lpWPUOpenCurrentThread, \.lpWPUCloseThread, \.lpWPUCompleteOverlappedRequest,
        ]
        for (i, p) in paths.enumerated() { #expect(MemoryLayout<WSPUPCALLTABLEEX>.offset(of: p) == i * 8) }
    }
}

@Suite struct ConstantTests {
    @Test func ioctlAndOptionCodes() {
        #expect(SIO_GET_EXTENSION_FUNCTION_POINTER == 0xC800_0006)
        #expect(SIO_ADDRESS_LIST_QUERY == 0x4800_0016)
        #expect(SO_MAX_MSG_SIZE == 0x2003)
        #expect(SO_MAX_RDMA_SIZE == 0x700D)
        #expect(SO_RDMA_THRESHOLD_SIZE == 0x700E)
        #expect(SOL_SOCKET_WSA == 0xFFFF)
        #expect(FD_ACCEPT == 0x08 && FD_CONNECT == 0x10 && FD_MAX_EVENTS == 10)
        #expect(CF_ACCEPT == 0 && CF_REJECT == 1)
        #expect(WSS_OPERATION_IN_PROGRESS == 0x103)
        #expect(MEM_READ == 1 && MEM_WRITE == 2 && MEM_READWRITE == 3)
        #expect(sanInvalidSocket == UInt.max)
    }

    @Test func errorNumbers() {
        let expected: [(Int32, Int32)] = [
            (WSAEINTR, 10004), (WSAEFAULT, 10014), (WSAEINVAL, 10022), (WSAEWOULDBLOCK, 10035),
            (WSAEINPROGRESS, 10036), (WSAENOTSOCK, 10038), (WSAEMSGSIZE, 10040), (WSAENOPROTOOPT, 10042),
            (WSAEOPNOTSUPP, 10045), (WSAENETDOWN, 10050), (WSAENETRESET, 10052), (WSAECONNABORTED, 10053),
            (WSAECONNRESET, 10054), (WSAENOBUFS, 10055), (WSAENOTCONN, 10057), (WSAESHUTDOWN, 10058),
            (WSAETIMEDOUT, 10060), (WSAECONNREFUSED, 10061), (WSAEHOSTUNREACH, 10065), (WSAEPROCLIM, 10067),
            (WSASYSNOTREADY, 10091), (WSAVERNOTSUPPORTED, 10092), (WSAEDISCON, 10101), (WSA_IO_PENDING, 997),
            (WSA_IO_INCOMPLETE, 996), (WSA_OPERATION_ABORTED, 995), (WSA_INVALID_HANDLE, 6),
            (WSA_NOT_ENOUGH_MEMORY, 8), (WSA_INVALID_PARAMETER, 87),
        ]
        for (got, want) in expected { #expect(got == want) }
        #expect(WSAError.connectionReset.name == "WSAECONNRESET")
        #expect(WSAError(name: "WSA_IO_PENDING") == .ioPending)
    }

    @Test func extensionGUIDs() {
        #expect(SanExtension.registerMemory.guid.registryFormat == "{C0B422F5-F58C-11D1-AD6C-00C04FA34A2D}")
        #expect(SanExtension.rdmaRead.guid.registryFormat == "{C0B422FA-F58C-11D1-AD6C-00C04FA34A2D}")
        #expect(SanExtension.memoryRegistrationCacheCallback.guid.registryFormat
                    == "{E5DA4AF8-D824-48CD-A799-6337A98ED2AF}")
        #expect(Set(SanExtension.allCases.map(\.guid)).count == 7)
        #expect(SanExtension.allCases.filter(\.isRequired).count == 5)
        for e in SanExtension.allCases { #expect(SanExtension(guid: e.guid) == e) }
    }

    @Test func requiredSlots() {
        #expect(SanProcSlot.required.count == 17)
        #expect(!SanProcSlot.required.contains(.shutdown))
        #expect(!SanProcSlot.required.contains(.addressToString))
    }
}
