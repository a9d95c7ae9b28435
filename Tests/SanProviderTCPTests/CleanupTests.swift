import CSanABI
import Glibc
import SanCore
import Testing

/// WSPCleanup is reference-counted with WSPStartupEx; the last one closes everything. Runs on a
/// private copy of libsan_tcp.so so the shared instance the other tests use is not affected.
@Suite struct CleanupTests {
    @Test func lastCleanupClosesEverything() throws {
        let tcp = LoadedProvider.isolatedCopy()
        #expect(tcp.startAgain() == 0)  // two starts
        let p = try tcp.pair()
        let inbox = TestBuffer(64), out = TestBuffer(64, fill: 3)
        _ = try tcp.register(p.server, inbox, MEM_WRITE)
        _ = try tcp.register(p.client, out, MEM_READ)
        let pending = TestOverlapped(polls: false)
        #expect(tcp.recv(p.server, [inbox.part(0, 64)], pending) == WSA_IO_PENDING)
        let handles = [try #require(tcp.switchSocket(of: p.client)), try #require(tcp.switchSocket(of: p.server))]

        try tcp.cleanup()  // one start left: everything still works
        #expect(tcp.send(p.client, [out.part(0, 8)], TestOverlapped()) == WSA_IO_PENDING)
        let first = try #require(tcp.completion(p.server, pending))
        #expect(first.error == 0 && first.bytes == 8 && inbox.bytes(0..<8) == out.bytes(0..<8))

        let pending2 = TestOverlapped(polls: false)
        #expect(tcp.recv(p.server, [inbox.part(0, 64)], pending2) == WSA_IO_PENDING)
        try tcp.cleanup()  // the last one
        let r = try #require(tcp.completion(p.server, pending2))
        #expect(r.error == WSA_OPERATION_ABORTED)
        for h in handles { #expect(UpcallLog.closedLast(h)) }
        #expect(tcp.send(p.client, [out.part(0, 8)], TestOverlapped()) == WSAENOTSOCK)
        #expect(throws: WSAFailure(.notInitialised)) { try tcp.cleanup() }

        // Started again, it serves new connections.
        #expect(tcp.startAgain() == 0)
        let q = try tcp.pair()
        try RdmaTests.doneMessage(tcp, q)
        q.close()
        try tcp.cleanup()
    }

    @Test func startupChecksItsArguments() {
        let tcp = LoadedProvider.tcp
        var data = WSPDATA()
        var info = WSAPROTOCOL_INFOW()
        var up = WSPUPCALLTABLEEX()
        var table = WSPPROC_TABLE()
        #expect(tcp.startup(0x0101, &data, &info, &up, &table) == WSAVERNOTSUPPORTED)
        #expect(tcp.startup(0x0202, nil, &info, &up, &table) == WSAEFAULT)
        #expect(tcp.startup(0x0202, &data, &info, &up, nil) == WSAEFAULT)
        let description = withUnsafeBytes(of: data.szDescription) { Array($0.bindMemory(to: UInt16.self)) }
        #expect(description.allSatisfy { $0 == 0 })  // untouched by the failed calls
    }
}
