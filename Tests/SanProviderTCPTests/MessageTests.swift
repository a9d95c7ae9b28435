import CSanABI
import Glibc
import SanCore
import Testing

/// WSPSend / WSPRecv through libsan_tcp.so: one message per posted receive, in order; early
/// messages buffered; too-long messages; multi-buffer gather and scatter.
@Suite struct MessageTests {
    let tcp = LoadedProvider.tcp

    @Test func messagesArriveInOrderOnePerReceive() throws {
        let p = try tcp.pair()
        defer { p.close() }
        let out = TestBuffer(64 * 32), inb = TestBuffer(64 * 32)
        _ = try tcp.register(p.client, out, MEM_READ)
        _ = try tcp.register(p.server, inb, MEM_WRITE)
        var recvs: [TestOverlapped] = []
        for i in 0..<32 {
            let ov = TestOverlapped()
            #expect(tcp.recv(p.server, [inb.part(i * 64, 64)], ov) == WSA_IO_PENDING)
            recvs.append(ov)
        }
        var sends: [TestOverlapped] = []
        for i in 0..<32 {
            for j in 0..<(i + 1) { out[i * 64 + j] = UInt8(i + 1) }
            let ov = TestOverlapped()
            #expect(tcp.send(p.client, [out.part(i * 64, i + 1)], ov) == WSA_IO_PENDING)
            sends.append(ov)
        }
        for (i, ov) in sends.enumerated() {
            let r = try #require(tcp.completion(p.client, ov))
            #expect(r.error == 0 && r.bytes == UInt32(i + 1))
        }
        for (i, ov) in recvs.enumerated() {
            let r = try #require(tcp.completion(p.server, ov))
            #expect(r.error == 0)
            #expect(r.bytes == UInt32(i + 1), "receive \(i) got message of \(r.bytes) bytes")
            #expect(inb.bytes(i * 64..<(i * 64 + i + 1)) == [UInt8](repeating: UInt8(i + 1), count: i + 1))
        }
    }

    @Test func earlyMessagesAreBufferedAndDeliveredOnePerBuffer() throws {
        let p = try tcp.pair()
        defer { p.close() }
        let out = TestBuffer(pattern: 3000, seed: 7), inb = TestBuffer(4096)
        _ = try tcp.register(p.client, out, MEM_READ)
        _ = try tcp.register(p.server, inb, MEM_WRITE)
        // Three messages before any receive is posted.
        let sizes = [100, 1, 2000]
        var offset = 0
        for n in sizes {
            let ov = TestOverlapped()
            #expect(tcp.send(p.client, [out.part(offset, n)], ov) == WSA_IO_PENDING)
            #expect(try #require(tcp.completion(p.client, ov)).error == 0)
            offset += n
        }
        usleep(50_000)  // let them arrive and be buffered
        offset = 0
        for n in sizes {
            let ov = TestOverlapped()
            #expect(tcp.recv(p.server, [inb.part(0, 4096)], ov) == WSA_IO_PENDING)
            let r = try #require(tcp.completion(p.server, ov))
            #expect(r.error == 0 && r.bytes == UInt32(n))
            #expect(inb.bytes(0..<n) == out.bytes(offset..<(offset + n)))
            offset += n
        }
    }

    @Test func messageLongerThanTheReceiveFailsItWithMessageSize() throws {
        let p = try tcp.pair()
        defer { p.close() }
        let out = TestBuffer(pattern: 500, seed: 1), inb = TestBuffer(600, fill: 0xEE)
        _ = try tcp.register(p.client, out, MEM_READ)
        _ = try tcp.register(p.server, inb, MEM_WRITE)
        let small = TestOverlapped(), next = TestOverlapped()
        #expect(tcp.recv(p.server, [inb.part(0, 100)], small) == WSA_IO_PENDING)
        #expect(tcp.recv(p.server, [inb.part(100, 500)], next) == WSA_IO_PENDING)
        for n in [500, 3] {
            let ov = TestOverlapped()
            #expect(tcp.send(p.client, [out.part(0, n)], ov) == WSA_IO_PENDING)
            #expect(try #require(tcp.completion(p.client, ov)).error == 0)
        }
        let r = try #require(tcp.completion(p.server, small))
        #expect(r.error == WSAEMSGSIZE && r.bytes == 100)
        #expect(inb.bytes(0..<100) == out.bytes(0..<100))
        // The rest of the long message is dropped; the next message is intact.
        let r2 = try #require(tcp.completion(p.server, next))
        #expect(r2.error == 0 && r2.bytes == 3)
        #expect(inb.bytes(100..<103) == out.bytes(0..<3))
        #expect(inb[103] == 0xEE)
    }

    @Test func gatherAndScatterOverSeveralBuffers() throws {
        let p = try tcp.pair()
        defer { p.close() }
        let out = TestBuffer(pattern: 70_000, seed: 9), inb = TestBuffer(80_000)
        _ = try tcp.register(p.client, out, MEM_READ)
        _ = try tcp.register(p.server, inb, MEM_WRITE)
        let ov = TestOverlapped(), rov = TestOverlapped()
        // Receive scatters over 3 pieces with gaps; send gathers 4 pieces.
        #expect(tcp.recv(p.server, [inb.part(10, 5), inb.part(1000, 40_000), inb.part(50_000, 29_000)], rov) == WSA_IO_PENDING)
        #expect(tcp.send(p.client, [out.part(0, 3), out.part(100, 20_000), out.part(30_000, 40_000), out.part(69_999, 1)], ov) == WSA_IO_PENDING)
        #expect(try #require(tcp.completion(p.client, ov)).bytes == 60_004)
        let r = try #require(tcp.completion(p.server, rov))
        #expect(r.error == 0 && r.bytes == 60_004)
        let sent = out.bytes(0..<3) + out.bytes(100..<20_100) + out.bytes(30_000..<70_000) + out.bytes(69_999..<70_000)
        let got = inb.bytes(10..<15) + inb.bytes(1000..<41_000) + inb.bytes(50_000..<(50_000 + 60_004 - 40_005))
        #expect(got == sent)
    }

    @Test func sendLimitsAndUnregisteredBuffers() throws {
        let p = try tcp.pair()
        defer { p.close() }
        var max: UInt32 = 0
        var len: Int32 = 4
        var err: Int32 = 0
        #expect(tcp.table.lpWSPGetSockOpt!(p.client, SOL_SOCKET_WSA, SO_MAX_MSG_SIZE, withUnsafeMutableBytes(of: &max) {
            $0.baseAddress!.assumingMemoryBound(to: CChar.self) }, &len, &err) == 0)
        #expect(max == 1 << 20)
        let big = TestBuffer(Int(max) + 1)
        _ = try tcp.register(p.client, big, MEM_READ)
        #expect(tcp.send(p.client, [big.part(0, Int(max) + 1)], TestOverlapped()) == WSAEMSGSIZE)
        let unregistered = TestBuffer(16)
        #expect(tcp.send(p.client, [unregistered.part(0, 16)], TestOverlapped()) == WSAEFAULT)
        // A receive needs MEM_WRITE: the MEM_READ registration is refused.
        #expect(tcp.recv(p.client, [big.part(0, 16)], TestOverlapped()) == WSAEFAULT)
    }

    @Test func synchronousCallsWithoutOverlapped() throws {
        let p = try tcp.pair()
        defer { p.close() }
        let out = TestBuffer(pattern: 32, seed: 4), inb = TestBuffer(32)
        _ = try tcp.register(p.client, out, MEM_READ)
        _ = try tcp.register(p.server, inb, MEM_WRITE)
        #expect(tcp.send(p.client, [out.part(0, 32)], nil) == 0)
        let rc = withDeadline { tcp.recv(p.server, [inb.part(0, 32)], nil) }
        #expect(rc == 0)
        #expect(inb.bytes == out.bytes)
    }

    /// With the early-message budget spent, the provider stops reading the connection (TCP flow
    /// control holds the peer back) instead of dropping or buffering without bound; posting
    /// receives resumes it and every message arrives, in order.
    @Test func receiveSideStallsWhenTheEarlyBudgetIsSpentAndResumes() throws {
        let tcp = LoadedProvider.isolatedCopy(environment: ["SAN_TCP_EARLY_BYTES": "1"])  // raised to SO_MAX_MSG_SIZE
        let p = try tcp.pair()
        defer { p.close() }
        let size = 700_000
        let out = TestBuffer(pattern: 3 * size, seed: 21), inb = TestBuffer(3 * size)
        _ = try tcp.register(p.client, out, MEM_READ)
        _ = try tcp.register(p.server, inb, MEM_WRITE)
        let sends = (0..<3).map { i -> TestOverlapped in
            let ov = TestOverlapped()
            #expect(tcp.send(p.client, [out.part(i * size, size)], ov) == WSA_IO_PENDING)
            return ov
        }
        usleep(100_000)
        for i in 0..<3 {
            let ov = TestOverlapped()
            #expect(tcp.recv(p.server, [inb.part(i * size, size)], ov) == WSA_IO_PENDING)
            let r = try #require(tcp.completion(p.server, ov))
            #expect(r.error == 0 && r.bytes == UInt32(size), "message \(i)")
        }
        for ov in sends { #expect(try #require(tcp.completion(p.client, ov)).error == 0) }
        #expect(inb.bytes == out.bytes)
    }

    /// A receive side stalled on the early-message budget still notices the peer's end: what is
    /// behind the waiting message (here the response to an RDMA read) is read, and the read
    /// completes, without a receive being posted; the messages are delivered afterwards, then
    /// the orderly end. The peer's FIN arrives only once the bytes before it fit in this side's
    /// socket receive buffer, so the messages are small (16 KiB SO_MAX_MSG_SIZE): with 700 KB
    /// ones the rest of the second message sometimes filled the buffer (autotuning had not grown
    /// it), the peer's FIN stayed queued behind its unsent bytes, and the read never completed.
    @Test func aStalledReceiveSideNoticesThePeersEnd() throws {
        // The early-message budget is raised to SO_MAX_MSG_SIZE: one message fills it.
        let tcp = LoadedProvider.isolatedCopy(environment: ["SAN_TCP_EARLY_BYTES": "1", "SAN_TCP_MAX_MSG_SIZE": "16384"])
        let p = try tcp.pair()
        defer { p.close() }
        let size = 12_000
        let out = TestBuffer(pattern: 2 * size, seed: 31), inb = TestBuffer(2 * size)
        let exposed = TestBuffer(pattern: 4096, seed: 32), sink = TestBuffer(4096)
        _ = try tcp.register(p.client, out, MEM_READ)
        _ = try tcp.register(p.server, inb, MEM_WRITE)
        let desc = try tcp.registerRdma(p.client, exposed, MEM_READ)
        let h = try tcp.register(p.server, sink, MEM_WRITE)
        for i in 0..<2 {
            let ov = TestOverlapped()
            #expect(tcp.send(p.client, [out.part(i * size, size)], ov) == WSA_IO_PENDING)
            #expect(try #require(tcp.completion(p.client, ov)).error == 0)
        }
        let read = TestOverlapped()
        #expect(tcp.rdma(write: false, p.server, [(sink.base, 4096, h)], desc, offset: 0, read) == WSA_IO_PENDING)
        usleep(100_000)
        #expect(tcp.result(p.server, read, wait: false).error == WSA_IO_INCOMPLETE, "its response waits behind the message")
        try tcp.close(p.client)
        let r = try #require(tcp.completion(p.server, read))
        #expect(r.error == 0 && r.bytes == 4096 && sink.bytes == exposed.bytes)
        for i in 0..<2 {
            let ov = TestOverlapped()
            let rc = tcp.recv(p.server, [inb.part(i * size, size)], ov)
            #expect(rc == WSA_IO_PENDING || rc == 0)
            #expect(try #require(tcp.completion(p.server, ov)).error == 0, "message \(i)")
        }
        #expect(inb.bytes == out.bytes)
        // The end itself may still be unread (the read completed from what was staged before
        // it): a receive posted now fails at once or pends until the end is read.
        let last = TestOverlapped()
        let rc = tcp.recv(p.server, [inb.part(0, 8)], last)
        if rc == WSA_IO_PENDING {
            #expect(try #require(tcp.completion(p.server, last)).error == WSAEDISCON)
        } else {
            #expect(rc == WSAEDISCON)
        }
    }
}
