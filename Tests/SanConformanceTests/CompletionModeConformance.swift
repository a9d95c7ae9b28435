import CSanABI
import SanCore
import SanSwitch
import Testing

/// Every data-path call in both completion modes (Docs/Conformance.md §8): poll mode (hEvent low
/// bit set) must never upcall; upcall mode must report through WPUCompleteOverlappedRequest.
@Suite struct CompletionModeConformance {
    @Test(arguments: Conformance.providers, Mode.allCases)
    func everyDataPathCallCompletesInTheRequestedMode(_ name: String, _ mode: Mode) throws {
        let s = try Conformance.subject(name)
        SanUpcallRegistry.shared.enableLog()
        let pair = try Pair(s.provider)
        let mem = Memory(16384)
        defer {
            pair.close()
            mem.free()
        }
        let clientHandle = try #require(pair.client.switchHandle)
        let serverHandle = try #require(pair.server.switchHandle)
        for i in 0..<4096 { mem.bytes[i] = UInt8(truncatingIfNeeded: i) }
        let src = try pair.client.register(mem.slice(0, 8192), access: .readWrite)
        let dst = try pair.server.register(mem.slice(8192, 4096), access: .write)
        let region = try pair.server.registerRdma(mem.slice(12288, 4096), access: .readWrite)
        var events: [SanEvent] = []
        defer { events.forEach { $0.close() } }
        func op() -> SanOperation {
            let (o, e) = operation(mode)
            if let e { events.append(e) }
            return o
        }
        let recv = op(), send = op(), write = op(), read = op()
        try pair.server.recv([dst.buffer(length: 4096)], operation: recv)
        try pair.client.send([src.buffer(length: 1000)], operation: send)
        #expect(try finish(send) == SanCompletion(bytes: 1000), "WSPSend")
        let r = try finish(recv)
        #expect(r.error == nil && (r.bytes == 1000 || !s.isTransport), "WSPRecv: \(r)")
        try pair.client.rdmaWrite([src.buffer(length: 2048)], to: region, offset: 100, operation: write)
        #expect(try finish(write) == SanCompletion(bytes: 2048), "WSPRdmaWrite")
        if s.provider.extensions.rdmaRead != nil {
            try pair.client.rdmaRead([src.buffer(offset: 4096, length: 2048)], from: region, offset: 100, operation: read)
            #expect(try finish(read) == SanCompletion(bytes: 2048), "WSPRdmaRead")
        }
        if s.isTransport {
            #expect(mem.read(8192, 1000) == mem.read(0, 1000), "the message arrived")
            #expect(mem.read(12288 + 100, 2048) == mem.read(0, 2048), "the write landed")
            if s.provider.extensions.rdmaRead != nil { #expect(mem.read(4096, 2048) == mem.read(0, 2048), "the read returned it") }
        }
        let upcalls = (SanUpcallRegistry.shared.log(for: clientHandle) + SanUpcallRegistry.shared.log(for: serverHandle))
            .filter { $0.name == "WPUCompleteOverlappedRequest" }
        let started = s.provider.extensions.rdmaRead != nil ? 4 : 3
        if mode == .upcall {
            #expect(upcalls.count == started, "one WPUCompleteOverlappedRequest per operation")
            let queued = events.flatMap { $0.takeCompleted() }
            #expect(queued.count == started, "each event got its operation")
        } else {
            #expect(upcalls.isEmpty, "poll mode: no WPUCompleteOverlappedRequest")
        }
    }
}
