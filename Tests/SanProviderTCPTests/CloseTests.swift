import CSanABI
import Glibc
import SanCore
import SanProviderTCP
import Testing

/// Close, lost peers and the two completion modes (reference §3.4, §4.7).
@Suite struct CloseTests {
    let tcp = LoadedProvider.tcp

    @Test(arguments: [true, false])
    func closeAbortsPendingOperationsAndClosesTheHandleLast(polls: Bool) throws {
        let p = try tcp.pair()
        let inbox = TestBuffer(4096), remote = TestBuffer(4096)
        _ = try tcp.register(p.client, inbox, MEM_WRITE)
        let desc = try tcp.registerRdma(p.server, remote, MEM_READ)
        _ = desc
        let recvs = (0..<3).map { _ in TestOverlapped(polls: polls) }
        for ov in recvs { #expect(tcp.recv(p.client, [inbox.part(0, 64)], ov) == WSA_IO_PENDING) }
        let switchSocket = try #require(tcp.switchSocket(of: p.client))
        try tcp.close(p.client)
        for ov in recvs {
            let r = try #require(tcp.completion(p.client, ov))
            #expect(r.error == WSA_OPERATION_ABORTED && r.bytes == 0)
        }
        #expect(UpcallLog.closedLast(switchSocket))
        // Poll mode: no completion upcall at all; upcall mode: one per operation.
        #expect(UpcallLog.completions(switchSocket) == (polls ? [] : [WSA_OPERATION_ABORTED, WSA_OPERATION_ABORTED, WSA_OPERATION_ABORTED]))
        // The peer sees an orderly close: its pending receive fails with WSAEDISCON.
        let peerInbox = TestBuffer(64)
        _ = try tcp.register(p.server, peerInbox, MEM_WRITE)
        let ov = TestOverlapped()
        let rc = tcp.recv(p.server, [peerInbox.part(0, 64)], ov)
        if rc == WSA_IO_PENDING {
            #expect(try #require(tcp.completion(p.server, ov)).error == WSAEDISCON)
        } else {
            #expect(rc == WSAEDISCON)
        }
        try tcp.close(p.server)
        #expect(throws: WSAFailure(.notSocket)) { try tcp.close(p.client) }
    }

    @Test(arguments: [false, true])
    func lostPeerFailsPendingOperationsWithConnectionReset(reset: Bool) throws {
        let session = try RawSession(tcp)
        defer { try? tcp.close(session.server) }
        let inbox = TestBuffer(64), sink = TestBuffer(64)
        _ = try tcp.register(session.server, inbox, MEM_WRITE)
        let recv = TestOverlapped(polls: false)
        #expect(tcp.recv(session.server, [inbox.part(0, 64)], recv) == WSA_IO_PENDING)
        session.peer.vanish(reset: reset)
        let r = try #require(tcp.completion(session.server, recv))
        #expect(r.error == WSAECONNRESET)
        // Later calls fail at once.
        _ = try? tcp.register(session.server, sink, MEM_WRITE)
        #expect(tcp.recv(session.server, [inbox.part(0, 64)], TestOverlapped()) == WSAECONNRESET)
        #expect(tcp.send(session.server, [inbox.part(0, 0)], TestOverlapped()) == WSAECONNRESET)
    }

    @Test func messagesThatArrivedBeforeAnOrderlyCloseAreStillDelivered() throws {
        let session = try RawSession(tcp)
        defer { try? tcp.close(session.server) }
        session.peer.send(Frame.send(length: 3).bytes + [1, 2, 3] + Frame.close.bytes)
        session.peer.vanish(reset: false)
        usleep(50_000)
        let inbox = TestBuffer(64)
        _ = try tcp.register(session.server, inbox, MEM_WRITE)
        let first = TestOverlapped(), second = TestOverlapped()
        #expect(tcp.recv(session.server, [inbox.part(0, 64)], first) == WSA_IO_PENDING)
        let r = try #require(tcp.completion(session.server, first))
        #expect(r.error == 0 && r.bytes == 3 && inbox.bytes(0..<3) == [1, 2, 3])
        // The end follows: at the call if it was already seen, else through the completion.
        let rc = tcp.recv(session.server, [inbox.part(0, 64)], second)
        let error = rc == WSA_IO_PENDING ? try #require(tcp.completion(session.server, second)).error : rc
        #expect(error == WSAEDISCON)
    }

    @Test func getOverlappedResultModes() throws {
        let p = try tcp.pair()
        defer { p.close() }
        let out = TestBuffer(pattern: 64, seed: 2), inb = TestBuffer(64)
        _ = try tcp.register(p.client, out, MEM_READ)
        _ = try tcp.register(p.server, inb, MEM_WRITE)
        let recv = TestOverlapped()
        #expect(tcp.recv(p.server, [inb.part(0, 64)], recv) == WSA_IO_PENDING)
        // Pending: fWait FALSE answers WSA_IO_INCOMPLETE.
        let early = tcp.result(p.server, recv, wait: false)
        #expect(!early.ok && early.error == WSA_IO_INCOMPLETE)
        // fWait TRUE blocks until the message arrives (sent from another thread later).
        let tcp = self.tcp
        let sender = TestThread {
            usleep(20_000)
            _ = tcp.send(p.client, [out.part(0, 64)], TestOverlapped())
        }
        let r = withDeadline { tcp.result(p.server, recv, wait: true) }
        sender.join()
        #expect(r?.ok == true && r?.bytes == 64)
        #expect(inb.bytes == out.bytes)
        // Upcall mode: the completion arrives through WPUCompleteOverlappedRequest.
        let up = TestOverlapped(polls: false)
        #expect(tcp.recv(p.server, [inb.part(0, 64)], up) == WSA_IO_PENDING)
        #expect(tcp.send(p.client, [out.part(0, 32)], TestOverlapped(polls: false)) == WSA_IO_PENDING)
        let u = try #require(tcp.completion(p.server, up))
        #expect(u.error == 0 && u.bytes == 32)
        let sw = try #require(tcp.switchSocket(of: p.server))
        #expect(UpcallLog.completions(sw) == [0])
    }

    @Test func closeDuringABlockingWait() throws {
        let p = try tcp.pair()
        defer { try? tcp.close(p.server) }
        let inb = TestBuffer(64)
        _ = try tcp.register(p.client, inb, MEM_WRITE)
        let recv = TestOverlapped()
        #expect(tcp.recv(p.client, [inb.part(0, 64)], recv) == WSA_IO_PENDING)
        let tcp = self.tcp
        let closer = TestThread {
            usleep(30_000)
            try? tcp.close(p.client)
        }
        let r = withDeadline { tcp.result(p.client, recv, wait: true) }
        closer.join()
        #expect(r?.ok == false && r?.error == WSA_OPERATION_ABORTED)
    }
}
