import CSanABI
import SanCore
import SanSwitch
import SanTestSupport
import Testing

/// The switch's API against the null provider: the SPI shapes without a network.
@Suite struct NullProviderTests {
    let provider: SanProvider

    init() throws { self.provider = try SanProvider.load(SanProducts.path("libsan_null.so")) }

    func connectedPair() throws -> (listener: SanSocket, client: SanSocket, server: SanSocket) {
        let listener = try SanSocket(provider: self.provider)
        try listener.bind(.loopback())
        try listener.listen()
        let client = try SanSocket(provider: self.provider)
        try client.connect(to: .loopback(port: 9))
        let (server, peer) = try listener.accept()
        #expect(peer?.family == AF_INET)
        return (listener, client, server)
    }

    @Test func connectAcceptAndClose() throws {
        let before = SanUpcallRegistry.shared.openHandles
        let (l, c, s) = try self.connectedPair()
        #expect(SanUpcallRegistry.shared.openHandles >= before + 3)
        for sock in [c, s, l] { try sock.close() }
        #expect(throws: SanSwitchError.self) { try c.close() }
    }

    @Test func conditionFunctionCanReject() throws {
        let listener = try SanSocket(provider: self.provider)
        try listener.bind(.loopback())
        try listener.listen()
        #expect(throws: SanSwitchError.call(function: "WSPAccept", error: .connectionRefused)) {
            _ = try listener.accept(condition: { _ in false })
        }
        try listener.close()
    }

    @Test func registrationCountsAndAccess() throws {
        let (l, c, s) = try self.connectedPair()
        let mem = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 64)
        defer { mem.deallocate() }
        let r1 = try c.register(mem, access: .read)
        let r2 = try c.register(mem, access: .read)
        #expect(r1.handle == r2.handle)
        try c.deregister(r1)
        try c.deregister(r2)
        #expect(throws: SanSwitchError.call(function: "WSPDeregisterMemory", error: .invalidArgument)) {
            try c.deregister(r1)
        }
        #expect(throws: SanSwitchError.call(function: "WSPRegisterMemory", error: .invalidArgument)) {
            _ = try c.register(mem, access: SanAccess(rawValue: 4))
        }
        // A read-only registration cannot be a receive buffer.
        let ro = try s.register(mem, access: .read)
        let op = SanOperation()
        #expect(throws: SanSwitchError.call(function: "WSPRecv", error: .fault)) {
            try s.recv([ro.buffer()], operation: op)
        }
        for sock in [c, s, l] { try sock.close() }
    }

    @Test(arguments: [false, true])
    func rdmaWriteCompletesInBothModes(upcall: Bool) throws {
        let (l, c, s) = try self.connectedPair()
        let mem = UnsafeMutableRawBufferPointer.allocate(byteCount: 8192, alignment: 64)
        defer { mem.deallocate() }
        let target = UnsafeMutableRawBufferPointer(rebasing: mem[4096...])
        let size = try s.rdmaDescriptorSize(for: target, access: .write)
        #expect(size > 0)
        let desc = try s.registerRdma(target, access: .write)
        #expect(desc.bytes.count == Int(size))
        let src = try c.register(UnsafeMutableRawBufferPointer(rebasing: mem[..<4096]), access: .read)
        let event = SanEvent()
        defer { event.close() }
        let op = SanOperation(mode: upcall ? .upcall(event) : .poll)
        try c.rdmaWrite([src.buffer(length: 1000)], to: desc, offset: 96, operation: op)
        let done = try op.wait()
        #expect(done == SanCompletion(bytes: 1000))
        if upcall {
            #expect(event.takeCompleted() == [op.overlapped])
        }
        // Out of the region's bounds: refused before it starts.
        #expect(throws: SanSwitchError.call(function: "WSPRdmaWrite", error: .fault)) {
            try c.rdmaWrite([src.buffer(length: 1000)], to: desc, offset: 3500, operation: op)
        }
        try s.deregisterRdma(desc)
        try c.deregister(src)
        for sock in [c, s, l] { try sock.close() }
    }

    @Test func socketOptionsAndCacheCallback() throws {
        let (l, c, s) = try self.connectedPair()
        #expect(try c.option(SO_MAX_MSG_SIZE) > 0)
        #expect(try c.option(SO_RDMA_THRESHOLD_SIZE) == 4096)
        #expect(throws: SanSwitchError.call(function: "WSPGetSockOpt", error: .noProtocolOption)) {
            _ = try c.option(0x1234)
        }
        let mem = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 64)
        defer { mem.deallocate() }
        let r = try c.register(mem, access: .readWrite)
        try self.provider.releaseCachedRegistrations(mem)
        // Evicted: the handle is gone.
        #expect(throws: SanSwitchError.self) { try c.deregister(r) }
        for sock in [c, s, l] { try sock.close() }
    }
}
