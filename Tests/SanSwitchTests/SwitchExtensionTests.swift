import CSanABI
import SanCore
import SanSwitch
import SanTestSupport
import Testing

/// The switch's hot-path and diagnostic additions, on the null provider.
@Suite struct SwitchExtensionTests {
    let provider: SanProvider
    init() throws { self.provider = try SanProvider.load(SanProducts.path("libsan_null.so")) }

    @Test func uncheckedDataPathAndDrainedCompletions() throws {
        let s = try SanSocket(provider: self.provider)
        try s.connect(to: .loopback(port: 9))
        defer { try? s.close() }
        #expect(s.switchHandle != nil, "null creates its switch handle inside WSPSocket")
        let mem = UnsafeMutableRawBufferPointer.allocate(byteCount: 8192, alignment: 64)
        defer { mem.deallocate() }
        let reg = try s.register(UnsafeMutableRawBufferPointer(rebasing: mem[..<4096]), access: .readWrite)
        let target = UnsafeMutableRawBufferPointer(rebasing: mem[4096...])
        let desc = try s.registerRdma(target, access: .readWrite)
        let ev = SanEvent()
        defer { ev.close() }
        let ops = (0..<4).map { _ in SanOperation(mode: .upcall(ev)) }
        var plain = reg.buffer(length: 100).wsabuf
        var ex = reg.buffer(length: 200).wsabufex
        var d = desc.bytes
        try d.withUnsafeMutableBytes { raw in
            try s.sendUnchecked(&plain, count: 1, operation: ops[0])
            try s.recvUnchecked(&plain, count: 1, operation: ops[1])
            try s.rdmaWriteUnchecked(&ex, count: 1, descriptor: raw, offset: 10, operation: ops[2])
            try s.rdmaReadUnchecked(&ex, count: 1, descriptor: raw, offset: 10, operation: ops[3])
        }
        var drained: [UInt] = []
        ev.drainCompleted(into: &drained)
        #expect(Set(drained) == Set(ops.map { UInt(bitPattern: $0.overlapped) }))
        #expect(!ev.isSet, "drained and reset")
        #expect(ops.map { $0.published?.bytes } == [100, 100, 200, 200])
        ev.drainCompleted(into: &drained)
        #expect(drained.isEmpty)
        // Registration without allocation: probe, register, deregister.
        let size = try s.rdmaDescriptorSize(for: target, access: .write)
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(size), alignment: 8)
        defer { block.deallocate() }
        let n = try s.registerRdmaUnchecked(target, access: .write, descriptor: block)
        #expect(n == Int(size))
        try s.deregisterRdmaUnchecked(block)
        #expect(throws: SanSwitchError.self) { try s.deregisterRdmaUnchecked(block) }
    }

    @Test func addressListAndBackoffWait() throws {
        let s = try SanSocket(provider: self.provider)
        defer { try? s.close() }
        #expect(try s.addressList() == [.loopback(port: 0)])
        #expect(s.ioctl(SIO_ADDRESS_LIST_QUERY, outputLength: 4).error == .fault)
        try s.connect(to: .loopback(port: 9))
        let mem = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 64)
        defer { mem.deallocate() }
        let reg = try s.register(mem, access: .read)
        let op = SanOperation()
        try s.send([reg.buffer()], operation: op)
        #expect(try op.wait(strategy: .backoff) == SanCompletion(bytes: 64))
        #expect(op.published == SanCompletion(bytes: 64))
    }
}
