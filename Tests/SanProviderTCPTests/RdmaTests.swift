import CSanABI
import Glibc
import SanCore
import SanProviderTCP
import Testing

/// WSPRdmaWrite / WSPRdmaRead through libsan_tcp.so: data, offsets, WSABUFEX lists, the "done"
/// message pattern, registrations and their enforcement.
@Suite struct RdmaTests {
    let tcp = LoadedProvider.tcp

    @Test func writeLandsAtTheOffsetFromSeveralLocalBuffers() throws {
        let p = try tcp.pair()
        defer { p.close() }
        let target = TestBuffer(1 << 20, fill: 0xAA), source = TestBuffer(pattern: 300_000, seed: 5)
        let desc = try tcp.registerRdma(p.server, target, MEM_WRITE)
        let h = try tcp.register(p.client, source, MEM_READ)
        let ov = TestOverlapped()
        let parts = [(source.base, 10, h), (source.base + 1000, 200_000, h), (source.base + 250_000, 50_000, h)]
        #expect(tcp.rdma(write: true, p.client, parts.map { ($0.0, $0.1, Optional($0.2)) }, desc, offset: 4097, ov) == WSA_IO_PENDING)
        let r = try #require(tcp.completion(p.client, ov))
        #expect(r.error == 0 && r.bytes == 250_010)
        let expected = source.bytes(0..<10) + source.bytes(1000..<201_000) + source.bytes(250_000..<300_000)
        // Completion of a write means the bytes left in order; a following send proves arrival.
        try Self.doneMessage(tcp, p)
        #expect(target.bytes(4097..<(4097 + 250_010)) == expected)
        #expect(target.bytes(0..<4097) == [UInt8](repeating: 0xAA, count: 4097))
        #expect(target.bytes((4097 + 250_010)..<(1 << 20)).allSatisfy { $0 == 0xAA })
    }

    @Test func readFetchesTheRangeIntoSeveralLocalBuffers() throws {
        let p = try tcp.pair()
        defer { p.close() }
        let remote = TestBuffer(pattern: 500_000, seed: 11), sink = TestBuffer(400_000, fill: 0x55)
        let desc = try tcp.registerRdma(p.server, remote, MEM_READ)
        let h = try tcp.register(p.client, sink, MEM_WRITE)
        let ov = TestOverlapped()
        #expect(tcp.rdma(write: false, p.client, [(sink.base + 7, 100_000, h), (sink.base + 200_000, 150_000, h)], desc,
                         offset: 33, ov) == WSA_IO_PENDING)
        let r = try #require(tcp.completion(p.client, ov))
        #expect(r.error == 0 && r.bytes == 250_000)
        #expect(sink.bytes(7..<100_007) == remote.bytes(33..<100_033))
        #expect(sink.bytes(200_000..<350_000) == remote.bytes(100_033..<250_033))
        #expect(sink[6] == 0x55 && sink[100_007] == 0x55 && sink[350_000] == 0x55)
    }

    /// Reference §4.3, peer lacks RdmaRead: the receiver registers MEM_WRITE, the sender writes
    /// then sends "done"; when "done" arrives the bytes are in place and the receiver deregisters.
    /// With RdmaRead: the receiver reads then sends "done", and the sender deregisters at once.
    @Test func doneMessagePatternBothWays() throws {
        let p = try tcp.pair()
        defer { p.close() }
        for round in 0..<20 {
            let size = 1 << (10 + round % 10)
            let target = TestBuffer(size), source = TestBuffer(pattern: size, seed: UInt8(round))
            let desc = try tcp.registerRdma(p.server, target, MEM_WRITE)
            let h = try tcp.register(p.client, source, MEM_READ)
            let ov = TestOverlapped()
            #expect(tcp.rdma(write: true, p.client, [(source.base, size, h)], desc, offset: 0, ov) == WSA_IO_PENDING)
            try Self.doneMessage(tcp, p)
            #expect(target.bytes == source.bytes, "round \(round)")
            try tcp.deregisterRdma(p.server, desc)
            #expect(try #require(tcp.completion(p.client, ov)).error == 0)

            // The read direction: the client exposes, the server reads, then says done.
            let exposed = TestBuffer(pattern: size, seed: UInt8(round + 100)), sink = TestBuffer(size)
            let rdesc = try tcp.registerRdma(p.client, exposed, MEM_READ)
            let sh = try tcp.register(p.server, sink, MEM_WRITE)
            let rov = TestOverlapped()
            #expect(tcp.rdma(write: false, p.server, [(sink.base, size, sh)], rdesc, offset: 0, rov) == WSA_IO_PENDING)
            // Sent at once after the read: the provider holds it until the read completed.
            try Self.doneMessage(tcp, Pair(provider: tcp, client: p.server, server: p.client))
            try tcp.deregisterRdma(p.client, rdesc)
            #expect(try #require(tcp.completion(p.server, rov)).error == 0)
            #expect(sink.bytes == exposed.bytes, "read round \(round)")
        }
    }

    @Test func descriptorSizeProbeAndFormat() throws {
        let p = try tcp.pair()
        defer { p.close() }
        let b = TestBuffer(4096)
        var len: UInt32 = 0
        var err: Int32 = 0
        #expect(tcp.registerRdmaMemory(p.server, b.base, 4096, UInt32(MEM_WRITE), nil, &len, &err) == -1)
        #expect(err == WSAEFAULT && len == UInt32(RdmaDescriptor.size))
        var small = [UInt8](repeating: 0, count: 10)
        len = 10
        #expect(tcp.registerRdmaMemory(p.server, b.base, 4096, UInt32(MEM_WRITE), &small, &len, &err) == -1)
        #expect(err == WSAEFAULT && len == UInt32(RdmaDescriptor.size))
        let desc = try tcp.registerRdma(p.server, b, MEM_READWRITE)
        let d = try RdmaDescriptor.decode(desc).get()
        #expect(d.access == .readWrite && d.length == 4096)
        // Keys are fresh per registration; the same range and access share one (counted).
        let other = try tcp.registerRdma(p.server, b, MEM_WRITE)
        #expect(try RdmaDescriptor.decode(other).get().key != d.key)
        #expect(try tcp.registerRdma(p.server, b, MEM_READWRITE) == desc)
        try tcp.deregisterRdma(p.server, desc)
        try tcp.deregisterRdma(p.server, desc)
        #expect(throws: WSAFailure(WSAEINVAL)) { try tcp.deregisterRdma(p.server, desc) }
        // A descriptor is only good on its own connection.
        let q = try tcp.pair()
        defer { q.close() }
        #expect(throws: WSAFailure(WSAEINVAL)) { try tcp.deregisterRdma(q.server, other) }
        let h = try tcp.register(q.client, b, MEM_READ)
        #expect(tcp.rdma(write: true, q.client, [(b.base, 16, h)], other, offset: 0, TestOverlapped()) == WSAEINVAL)
    }

    @Test func localAccessIsEnforced() throws {
        let p = try tcp.pair()
        defer { p.close() }
        let remote = TestBuffer(4096)
        let wdesc = try tcp.registerRdma(p.server, remote, MEM_WRITE)
        let rdesc = try tcp.registerRdma(p.server, remote, MEM_READ)
        let readOnly = TestBuffer(4096), writeOnly = TestBuffer(4096)
        let ro = try tcp.register(p.client, readOnly, MEM_READ)
        let wo = try tcp.register(p.client, writeOnly, MEM_WRITE)
        // A write's source must be MEM_READ; a read's sink must be MEM_WRITE.
        #expect(tcp.rdma(write: true, p.client, [(writeOnly.base, 16, wo)], wdesc, offset: 0, TestOverlapped()) == WSAEFAULT)
        #expect(tcp.rdma(write: false, p.client, [(readOnly.base, 16, ro)], rdesc, offset: 0, TestOverlapped()) == WSAEFAULT)
        // Range outside the handle's registration, unknown handle.
        #expect(tcp.rdma(write: true, p.client, [(readOnly.base + 4090, 16, ro)], wdesc, offset: 0, TestOverlapped()) == WSAEFAULT)
        #expect(tcp.rdma(write: true, p.client, [(readOnly.base, 16, UnsafeMutableRawPointer(bitPattern: 0x1234))], wdesc,
                         offset: 0, TestOverlapped()) == WSAEINVAL)
        // Local mistakes leave the connection usable.
        let ov = TestOverlapped()
        #expect(tcp.rdma(write: true, p.client, [(readOnly.base, 16, ro)], wdesc, offset: 4080, ov) == WSA_IO_PENDING)
        #expect(try #require(tcp.completion(p.client, ov)).error == 0)
    }

    /// The peer's rights and the region's bounds, as the descriptor states them, are checked at
    /// the call too; a violation fails it and aborts the connection (the target would refuse it
    /// and abort; an RC queue pair ends the same way on a remote access error).
    @Test(arguments: ["write into MEM_READ", "read from MEM_WRITE", "past the end"])
    func remoteAccessViolationFailsAndAbortsTheConnection(_ what: String) throws {
        let p = try tcp.pair()
        defer { p.close() }
        let remote = TestBuffer(4096, fill: 0x31)
        let desc = try tcp.registerRdma(p.server, remote, what == "read from MEM_WRITE" ? MEM_WRITE : MEM_READ)
        let local = TestBuffer(4096, fill: 0x77)
        let h = try tcp.register(p.client, local, MEM_READWRITE)
        let write = what != "read from MEM_WRITE"
        #expect(tcp.rdma(write: write, p.client, [(local.base, 16, h)], desc, offset: what == "past the end" ? 4081 : 0,
                         TestOverlapped()) == WSAEFAULT)
        #expect(tcp.send(p.client, [local.part(0, 8)], TestOverlapped()) == WSAECONNABORTED)
        // The peer learns it too: a receive it posts fails — flushed if it was pending when the
        // ABORT arrived, refused if it came after.
        let inbox = TestBuffer(64)
        _ = try tcp.register(p.server, inbox, MEM_WRITE)
        let ov = TestOverlapped()
        let rc = tcp.recv(p.server, [inbox.part(0, 64)], ov)
        if rc == WSA_IO_PENDING {
            #expect(try #require(tcp.completion(p.server, ov)).error == WSA_OPERATION_ABORTED)
        } else {
            #expect(rc == WSAECONNABORTED)
        }
        #expect(remote.bytes.allSatisfy { $0 == 0x31 } && local.bytes.allSatisfy { $0 == 0x77 })
    }

    /// RC semantics: a write completes once the target placed it (its ACK), not when its bytes
    /// left, and the send queue completes in posting order (a send behind the write waits for
    /// it). The target's receive side is held up by a message nobody receives yet (the
    /// early-message budget is spent), so the write cannot be placed until receives are posted.
    @Test func aWriteCompletesOnlyOnceTheTargetPlacedIt() throws {
        let tcp = LoadedProvider.isolatedCopy(environment: ["SAN_TCP_EARLY_BYTES": "1"])  // raised to SO_MAX_MSG_SIZE
        let p = try tcp.pair()
        defer { p.close() }
        let target = TestBuffer(4096, fill: 0xAA), source = TestBuffer(pattern: 4096, seed: 4)
        let desc = try tcp.registerRdma(p.server, target, MEM_WRITE)
        let h = try tcp.register(p.client, source, MEM_READ)
        let resume = try Self.holdUpReceiveSide(tcp, p)
        let write = TestOverlapped(), note = TestOverlapped()
        #expect(tcp.rdma(write: true, p.client, [(source.base, 4096, h)], desc, offset: 0, write) == WSA_IO_PENDING)
        #expect(tcp.send(p.client, [source.part(0, 8)], note) == WSA_IO_PENDING)
        usleep(200_000)
        #expect(tcp.result(p.client, write, wait: false).error == WSA_IO_INCOMPLETE, "not placed yet, so not complete")
        #expect(tcp.result(p.client, note, wait: false).error == WSA_IO_INCOMPLETE, "a send behind the write waits for it")
        #expect(target.bytes.allSatisfy { $0 == 0xAA })
        // Receives: the messages come in, the write is placed and acknowledged, then the note.
        try resume()
        let inb = TestBuffer(8)
        _ = try tcp.register(p.server, inb, MEM_WRITE)
        let ov = TestOverlapped()
        #expect(tcp.recv(p.server, [inb.part(0, 8)], ov) == WSA_IO_PENDING)
        #expect(try #require(tcp.completion(p.server, ov)).error == 0, "the note")
        let w = try #require(tcp.completion(p.client, write))
        #expect(w.error == 0 && w.bytes == 4096)
        #expect(target.bytes == source.bytes, "complete means placed")
        #expect(try #require(tcp.completion(p.client, note)).error == 0)
    }

    /// A write the target refuses fails alone with WSAECONNABORTED (the verbs mapping of a remote
    /// access error); the write before it was placed and completes; the write after it and every
    /// other pending operation are flushed with WSA_OPERATION_ABORTED; later calls fail with
    /// WSAECONNABORTED. Completions come in posting order (upcall mode shows the order).
    @Test func aRefusedWriteFailsAloneAndTheRestIsFlushed() throws {
        let tcp = LoadedProvider.isolatedCopy(environment: ["SAN_TCP_EARLY_BYTES": "1"])
        let p = try tcp.pair()
        defer { p.close() }
        let target = TestBuffer(8192, fill: 0xAA), source = TestBuffer(pattern: 4096, seed: 8), inbox = TestBuffer(64)
        let live = try tcp.registerRdma(p.server, target, MEM_WRITE, offset: 0, length: 4096)
        let revoked = try tcp.registerRdma(p.server, target, MEM_WRITE, offset: 4096, length: 4096)
        try tcp.deregisterRdma(p.server, revoked)
        let h = try tcp.register(p.client, source, MEM_READ)
        _ = try tcp.register(p.client, inbox, MEM_WRITE)
        let recv = TestOverlapped(polls: false)
        #expect(tcp.recv(p.client, [inbox.part(0, 64)], recv) == WSA_IO_PENDING)
        // All three are posted before the target looks at any of them.
        let resume = try Self.holdUpReceiveSide(tcp, p)
        let writes = (0..<3).map { _ in TestOverlapped(polls: false) }
        #expect(tcp.rdma(write: true, p.client, [(source.base, 2048, h)], live, offset: 0, writes[0]) == WSA_IO_PENDING)
        #expect(tcp.rdma(write: true, p.client, [(source.base, 16, h)], revoked, offset: 0, writes[1]) == WSA_IO_PENDING)
        #expect(tcp.rdma(write: true, p.client, [(source.base + 2048, 2048, h)], live, offset: 2048, writes[2])
                == WSA_IO_PENDING)
        // A send behind them goes out at once, but the target drops everything after the refused
        // write: it is flushed too.
        let send = TestOverlapped(polls: false)
        #expect(tcp.send(p.client, [source.part(0, 8)], send) == WSA_IO_PENDING)
        try resume()
        let results = try writes.map { try #require(tcp.completion(p.client, $0)) }
        #expect(results[0].error == 0 && results[0].bytes == 2048, "placed before the refusal")
        #expect(results[1].error == WSAECONNABORTED, "the refused write")
        #expect(results[2].error == WSA_OPERATION_ABORTED, "flushed")
        #expect(try #require(tcp.completion(p.client, send)).error == WSA_OPERATION_ABORTED, "flushed")
        #expect(try #require(tcp.completion(p.client, recv)).error == WSA_OPERATION_ABORTED, "flushed")
        let order = UpcallLog.completions(try #require(tcp.switchSocket(of: p.client)))
        #expect(order == [0, WSA_OPERATION_ABORTED, WSAECONNABORTED, WSA_OPERATION_ABORTED, WSA_OPERATION_ABORTED],
                "the receive is flushed first, then the send queue in posting order")
        #expect(tcp.send(p.client, [source.part(0, 8)], TestOverlapped()) == WSAECONNABORTED)
        #expect(target.bytes(0..<2048) == source.bytes(0..<2048))
        #expect(target.bytes(2048..<8192).allSatisfy { $0 == 0xAA }, "nothing after the refusal landed")
    }

    /// A read the target refuses (its region was revoked) fails with WSAECONNABORTED; a write
    /// posted after it is flushed.
    @Test func aRefusedReadFailsWithConnectionAborted() throws {
        let tcp = LoadedProvider.isolatedCopy(environment: ["SAN_TCP_EARLY_BYTES": "1"])
        let p = try tcp.pair()
        defer { p.close() }
        let remote = TestBuffer(4096), sink = TestBuffer(4096, fill: 0x55)
        let desc = try tcp.registerRdma(p.server, remote, MEM_READWRITE)
        try tcp.deregisterRdma(p.server, desc)
        let h = try tcp.register(p.client, sink, MEM_READWRITE)
        let resume = try Self.holdUpReceiveSide(tcp, p)
        let read = TestOverlapped(), write = TestOverlapped()
        #expect(tcp.rdma(write: false, p.client, [(sink.base, 64, h)], desc, offset: 0, read) == WSA_IO_PENDING)
        #expect(tcp.rdma(write: true, p.client, [(sink.base, 64, h)], desc, offset: 0, write) == WSA_IO_PENDING)
        try resume()
        #expect(try #require(tcp.completion(p.client, read)).error == WSAECONNABORTED)
        #expect(try #require(tcp.completion(p.client, write)).error == WSA_OPERATION_ABORTED)
        #expect(sink.bytes.allSatisfy { $0 == 0x55 })
    }

    @Test func localRegistrationsAreCountedAndPinned() throws {
        let p = try tcp.pair()
        defer { p.close() }
        let b = TestBuffer(8192)
        let h1 = try tcp.register(p.client, b, MEM_READ)
        let h2 = try tcp.register(p.client, b, MEM_READ)
        #expect(h1 == h2)
        var err: Int32 = 0
        #expect(tcp.deregisterMemory(p.client, h1, &err) == 0)
        #expect(tcp.deregisterMemory(p.client, h1, &err) == 0)
        #expect(tcp.deregisterMemory(p.client, h1, &err) == -1 && err == WSAEINVAL)
        #expect(tcp.registerMemory(p.client, b.base, 8192, 0, &err) == nil && err == WSAEINVAL)
        #expect(tcp.registerMemory(p.client, b.base, 8192, 4, &err) == nil && err == WSAEINVAL)
        // A pending receive pins its registration: the last deregistration fails until it completes.
        let h = try tcp.register(p.server, b, MEM_WRITE)
        let ov = TestOverlapped()
        #expect(tcp.recv(p.server, [b.part(0, 100)], ov) == WSA_IO_PENDING)
        #expect(tcp.deregisterMemory(p.server, h, &err) == -1 && err == WSAEINVAL)
        let out = TestBuffer(100)
        _ = try tcp.register(p.client, out, MEM_READ)
        #expect(tcp.send(p.client, [out.part(0, 100)], TestOverlapped()) == WSA_IO_PENDING)
        #expect(try #require(tcp.completion(p.server, ov)).error == 0)
        #expect(tcp.deregisterMemory(p.server, h, &err) == 0)
    }

    @Test func cacheCallbackEvictsRegistrationsInsideTheRange() throws {
        let p = try tcp.pair()
        defer { p.close() }
        let b = TestBuffer(3 * 4096)
        let inside = try tcp.register(p.client, TestBufferSlice(b, 4096, 4096).buffer, MEM_READ)
        let outside = try tcp.register(p.client, b, MEM_READ)  // the whole buffer: not inside the range
        let desc = try tcp.registerRdma(p.server, b, MEM_WRITE, offset: 4096, length: 4096)
        let straddling = try tcp.registerRdma(p.server, b, MEM_WRITE, offset: 0, length: 8192)
        var err: Int32 = 0
        #expect(tcp.cacheCallback(b.base + 4096, 4096, &err) == 0)
        // The local one inside is gone; the RDMA one inside is revoked; the straddling one stays.
        #expect(tcp.deregisterMemory(p.client, inside, &err) == -1 && err == WSAEINVAL)
        #expect(throws: WSAFailure(WSAEINVAL)) { try tcp.deregisterRdma(p.server, desc) }
        try tcp.deregisterRdma(p.server, straddling)
        #expect(tcp.deregisterMemory(p.client, outside, &err) == 0)
    }

    /// Holds up the server's receive side with two 700 KB messages from the client, the second
    /// beyond the early-message budget of an `isolatedCopy` with `SAN_TCP_EARLY_BYTES=1` (raised
    /// to SO_MAX_MSG_SIZE): frames the client sends next wait, unread, until the returned closure
    /// posted the two receives (and checked the messages).
    static func holdUpReceiveSide(_ tcp: LoadedProvider, _ p: Pair) throws -> () throws -> Void {
        let size = 700_000
        let out = TestBuffer(pattern: 2 * size, seed: 9), inb = TestBuffer(2 * size)
        _ = try tcp.register(p.client, out, MEM_READ)
        _ = try tcp.register(p.server, inb, MEM_WRITE)
        for i in 0..<2 {
            let ov = TestOverlapped()
            #expect(tcp.send(p.client, [out.part(i * size, size)], ov) == WSA_IO_PENDING)
            #expect(try #require(tcp.completion(p.client, ov)).error == 0, "handed to the kernel")
        }
        return { () throws -> Void in
            for i in 0..<2 {
                let ov = TestOverlapped()
                let rc = tcp.recv(p.server, [inb.part(i * size, size)], ov)
                #expect(rc == WSA_IO_PENDING || rc == 0)
                #expect(try #require(tcp.completion(p.server, ov)).error == 0, "message \(i)")
            }
            #expect(inb.bytes == out.bytes)
        }
    }

    /// A send from client to server whose arrival proves everything sent before it arrived.
    static func doneMessage(_ tcp: LoadedProvider, _ p: Pair) throws {
        let out = TestBuffer(8, fill: 0xD0), inb = TestBuffer(8)
        _ = try tcp.register(p.client, out, MEM_READ)
        _ = try tcp.register(p.server, inb, MEM_WRITE)
        let rov = TestOverlapped(), sov = TestOverlapped()
        #expect(tcp.recv(p.server, [inb.part(0, 8)], rov) == WSA_IO_PENDING)
        #expect(tcp.send(p.client, [out.part(0, 8)], sov) == WSA_IO_PENDING)
        let r = try #require(tcp.completion(p.server, rov))
        #expect(r.error == 0 && r.bytes == 8 && inb.bytes == out.bytes)
        #expect(try #require(tcp.completion(p.client, sov)).error == 0)
    }
}

/// A registration-sized view into a larger buffer (for range tests).
struct TestBufferSlice {
    let buffer: TestBuffer
    init(_ whole: TestBuffer, _ offset: Int, _ length: Int) {
        self.buffer = TestBuffer(view: whole.base + offset, count: length, owner: whole)
    }
}
