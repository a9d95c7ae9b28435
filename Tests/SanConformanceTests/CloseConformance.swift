#if canImport(Glibc)
import Glibc
#endif
import CSanABI
import SanCore
import SanSwitch
import Testing

/// Close and loss of the peer (Docs/Conformance.md §6).
@Suite struct CloseConformance {
    @Test(arguments: Conformance.transports, Mode.allCases)
    func closeAbortsPendingOperationsBeforeTheLastUpcall(_ name: String, _ mode: Mode) throws {
        let p = try Conformance.subject(name).provider
        SanUpcallRegistry.shared.enableLog()
        let pair = try Pair(p)
        let mem = Memory(4096)
        defer {
            pair.close()
            mem.free()
        }
        let handle = try #require(pair.server.switchHandle, "WSPAccept must call WPUCreateSocketHandle on the caller's thread")
        let reg = try pair.server.register(mem.bytes, access: .write)
        let (op, ev) = operation(mode)
        defer { ev?.close() }
        try pair.server.recv([reg.buffer(length: 64)], operation: op)
        usleep(50_000)
        #expect(op.isPending, "nothing was sent: the receive is pending")
        try pair.server.close()
        let c = try #require(published(op), "close must complete the pending receive")
        #expect(c.error == .operationAborted, "a pending operation completes with WSA_OPERATION_ABORTED at close")
        let log = SanUpcallRegistry.shared.log(for: handle)
        #expect(log.last?.name == "WPUCloseSocketHandle", "the last upcall for the socket: \(log.map(\.name))")
        let completions = log.filter { $0.name == "WPUCompleteOverlappedRequest" }
        if mode == .upcall {
            #expect(completions.map(\.error) == [WSA_OPERATION_ABORTED], "the abort is reported through the upcall")
        } else {
            #expect(completions.isEmpty, "poll mode: the provider must not call WPUCompleteOverlappedRequest")
        }
    }

    @Test(arguments: Conformance.transports, Mode.allCases)
    func aLostPeerResetsPendingOperations(_ name: String, _ mode: Mode) throws {
        let s = try Conformance.subject(name)
        let (peer, c) = try connectToPeer(s)
        let mem = Memory(4096)
        defer {
            try? c.close()
            mem.free()
        }
        let reg = try c.register(mem.bytes, access: .readWrite)
        let (op, ev) = operation(mode)
        defer { ev?.close() }
        try c.recv([reg.buffer(length: 64)], operation: op)
        peer.kill9()
        let r = try finish(op)
        #expect(r.error == .connectionReset, "the peer process died: pending operations fail with WSAECONNRESET")
        #expect(try RdmaConformance.sendFails(c, reg), "and later operations fail")
    }
}
