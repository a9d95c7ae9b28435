import CSanABI
import SanCore
import SanSwitch
import Testing

/// Registration: reference counts, the descriptor size probe, local access rights, the cache
/// callback (Docs/Conformance.md §5). Local checks: they run for every provider.
@Suite struct RegistrationConformance {
    @Test(arguments: Conformance.providers)
    func registrationsAreReferenceCounted(_ name: String) throws {
        let p = try Conformance.subject(name).provider
        let pair = try Pair(p)
        let mem = Memory(8192)
        defer {
            pair.close()
            mem.free()
        }
        let a = try pair.client.register(mem.slice(0, 4096), access: .read)
        let b = try pair.client.register(mem.slice(0, 4096), access: .read)
        try pair.client.deregister(a)
        // Still registered once: a send from it starts.
        let op = SanOperation()
        try pair.client.send([a.buffer(length: 8)], operation: op)
        _ = try? finish(op)
        try pair.client.deregister(b)
        #expect(throws: SanSwitchError.call(function: "WSPDeregisterMemory", error: .invalidArgument),
                "one deregistration more than registrations: WSAEINVAL") {
            try pair.client.deregister(b)
        }
        let d1 = try pair.server.registerRdma(mem.slice(4096, 4096), access: .write)
        let d2 = try pair.server.registerRdma(mem.slice(4096, 4096), access: .write)
        try pair.server.deregisterRdma(d1)
        try pair.server.deregisterRdma(d2)
        #expect(throws: SanSwitchError.call(function: "WSPDeregisterRdmaMemory", error: .invalidArgument)) {
            try pair.server.deregisterRdma(d2)
        }
    }

    @Test(arguments: Conformance.providers)
    func descriptorSizeProbeAnswersWSAEFAULTAndTheSize(_ name: String) throws {
        let p = try Conformance.subject(name).provider
        let pair = try Pair(p)
        let mem = Memory(4096)
        defer {
            pair.close()
            mem.free()
        }
        let fn = p.extensions.registerRdmaMemory
        var len: UInt32 = 0
        var err: Int32 = 0
        #expect(fn(pair.server.value, mem.bytes.baseAddress, 4096, UInt32(MEM_WRITE), nil, &len, &err) != 0)
        #expect(err == WSAEFAULT, "the probe (no block) answers WSAEFAULT")
        let size = len
        #expect(size > 0, "… and stores the size it needs")
        var small = [UInt8](repeating: 0, count: Int(size))
        len = size - 1
        err = 0
        #expect(fn(pair.server.value, mem.bytes.baseAddress, 4096, UInt32(MEM_WRITE), &small, &len, &err) != 0)
        #expect(err == WSAEFAULT && len == size, "a block one byte too small: WSAEFAULT and the size again")
        len = size
        err = 0
        #expect(fn(pair.server.value, mem.bytes.baseAddress, 4096, UInt32(MEM_WRITE), &small, &len, &err) == 0)
        #expect(len == size, "registered: the descriptor length stored")
        try pair.server.deregisterRdma(SanRdmaDescriptor(bytes: Array(small.prefix(Int(len)))))
    }

    @Test(arguments: Conformance.providers)
    func localAccessRightsAreEnforcedExactly(_ name: String) throws {
        let p = try Conformance.subject(name).provider
        let pair = try Pair(p)
        let mem = Memory(16384)
        defer {
            pair.close()
            mem.free()
        }
        let c = pair.client
        let readOnly = try c.register(mem.slice(0, 4096), access: .read)
        let writeOnly = try c.register(mem.slice(4096, 4096), access: .write)
        let desc = try pair.server.registerRdma(mem.slice(8192, 4096), access: .readWrite)
        let op = SanOperation()
        #expect(throws: SanSwitchError.call(function: "WSPRecv", error: .fault), "receive into MEM_READ memory") {
            try c.recv([readOnly.buffer(length: 64)], operation: op)
        }
        #expect(throws: SanSwitchError.call(function: "WSPSend", error: .fault), "send from MEM_WRITE memory") {
            try c.send([writeOnly.buffer(length: 64)], operation: op)
        }
        #expect(throws: SanSwitchError.call(function: "WSPRdmaWrite", error: .fault), "RDMA write from MEM_WRITE memory") {
            try c.rdmaWrite([writeOnly.buffer(length: 64)], to: desc, operation: op)
        }
        if p.extensions.rdmaRead != nil {
            #expect(throws: SanSwitchError.call(function: "WSPRdmaRead", error: .fault), "RDMA read into MEM_READ memory") {
                try c.rdmaRead([readOnly.buffer(length: 64)], from: desc, operation: op)
            }
        }
        #expect(throws: SanSwitchError.call(function: "WSPSend", error: .fault), "a buffer outside every registration") {
            try c.send([SanBuffer(address: UInt(bitPattern: mem.bytes.baseAddress) + 12288, length: 64, handle: 0)],
                       operation: op)
        }
        #expect(throws: SanSwitchError.call(function: "WSPRdmaWrite", error: .invalidArgument), "an unknown handle") {
            try c.rdmaWrite([SanBuffer(address: readOnly.base, length: 64, handle: 0xDEAD_0000)], to: desc, operation: op)
        }
        #expect(throws: SanSwitchError.call(function: "WSPRegisterMemory", error: .invalidArgument), "flags other than 1, 2, 3") {
            _ = try c.register(mem.slice(0, 4096), access: SanAccess(rawValue: 4))
        }
    }

    @Test(arguments: Conformance.providers)
    func cacheCallbackEvictsRegistrationsInsideTheRange(_ name: String) throws {
        let p = try Conformance.subject(name).provider
        guard p.extensions.memoryRegistrationCacheCallback != nil else {
            // Optional: its absence must be announced as WSAEOPNOTSUPP.
            #expect(p.lookups[.memoryRegistrationCacheCallback] == .some(.operationNotSupported))
            return
        }
        let pair = try Pair(p)
        let mem = Memory(3 * 4096)
        defer {
            pair.close()
            mem.free()
        }
        let inside = try pair.client.register(mem.slice(4096, 4096), access: .readWrite)
        let outside = try pair.client.register(mem.slice(0, 4096), access: .readWrite)
        try p.releaseCachedRegistrations(mem.slice(4096, 8192))
        #expect(throws: SanSwitchError.call(function: "WSPDeregisterMemory", error: .invalidArgument),
                "a registration inside the range is gone after the callback") {
            try pair.client.deregister(inside)
        }
        try pair.client.deregister(outside)
    }
}
