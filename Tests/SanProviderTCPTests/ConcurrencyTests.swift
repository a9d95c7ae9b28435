import CSanABI
import Glibc
import SanCore
import Synchronization
import Testing

/// Several sockets and several threads at once.
@Suite struct ConcurrencyTests {
    let tcp = LoadedProvider.tcp

    /// Eight connections, each ping-ponging on its own pair of threads with blocking waits
    /// (the waiter reads the socket itself), while the progress thread serves the others.
    @Test func pingPongOnEightConnectionsAtOnce() throws {
        let pairs = try (0..<8).map { _ in try tcp.pair() }
        defer { for p in pairs { p.close() } }
        let failures = Atomic<Int>(0)
        var threads: [TestThread] = []
        for (i, p) in pairs.enumerated() {
            for side in 0..<2 {
                threads.append(TestThread {
                    // The client sends round r and waits for its echo; the server echoes.
                    let me = side == 0 ? p.client : p.server
                    let out = TestBuffer(16), inb = TestBuffer(16)
                    guard (try? tcp.register(me, out, MEM_READ)) != nil, (try? tcp.register(me, inb, MEM_WRITE)) != nil else {
                        failures.add(1, ordering: .relaxed)
                        return
                    }
                    for round in 0..<200 {
                        let rov = TestOverlapped(), sov = TestOverlapped()
                        _ = tcp.recv(me, [inb.part(0, 16)], rov)
                        if side == 0 {
                            out[0] = UInt8(truncatingIfNeeded: round)
                            out[1] = UInt8(i)
                            _ = tcp.send(me, [out.part(0, 16)], sov)
                        }
                        let r = tcp.result(me, rov, wait: true)
                        if !r.ok || r.bytes != 16 || inb[1] != UInt8(i) || inb[0] != UInt8(truncatingIfNeeded: round) {
                            failures.add(1, ordering: .relaxed)
                            return
                        }
                        if side == 1 {
                            out[0] = inb[0]
                            out[1] = inb[1]
                            _ = tcp.send(me, [out.part(0, 16)], sov)
                        }
                        if !tcp.result(me, sov, wait: true).ok { failures.add(1, ordering: .relaxed) }
                    }
                })
            }
        }
        let all = threads
        let finished = withDeadline(seconds: 30) { for t in all { t.join() } }
        #expect(finished != nil)
        #expect(failures.load(ordering: .relaxed) == 0)
    }

    /// Four threads send on one socket at once: every message arrives whole, and each thread's
    /// messages arrive in its order.
    @Test func concurrentSendersOnOneSocket() throws {
        let p = try tcp.pair()
        defer { p.close() }
        let perThread = 100, threadsCount = 4, size = 3000
        let inbox = TestBuffer(perThread * threadsCount * size)
        _ = try tcp.register(p.server, inbox, MEM_WRITE)
        let recvs = (0..<(perThread * threadsCount)).map { i -> TestOverlapped in
            let ov = TestOverlapped()
            _ = tcp.recv(p.server, [inbox.part(i * size, size)], ov)
            return ov
        }
        let threads = (0..<threadsCount).map { t in
            TestThread {
                let out = TestBuffer(perThread * size)
                _ = try? tcp.register(p.client, out, MEM_READ)
                var ovs: [TestOverlapped] = []
                for m in 0..<perThread {
                    out.base.advanced(by: m * size).initializeMemory(as: UInt8.self, repeating: UInt8(t * 64 + m % 64), count: size)
                    out[m * size] = UInt8(m)
                    let ov = TestOverlapped()
                    _ = tcp.send(p.client, [out.part(m * size, size)], ov)
                    ovs.append(ov)
                }
                for ov in ovs { _ = tcp.completion(p.client, ov) }
            }
        }
        for t in threads { t.join() }
        var next = [Int](repeating: 0, count: threadsCount)
        for (i, ov) in recvs.enumerated() {
            let r = try #require(tcp.completion(p.server, ov))
            #expect(r.error == 0 && r.bytes == UInt32(size))
            let body = inbox.bytes((i * size + 1)..<((i + 1) * size))
            let t = Int(body[0]) / 64
            #expect(body.allSatisfy { $0 == body[0] }, "message \(i) is torn")
            #expect(Int(inbox[i * size]) == next[t], "thread \(t) out of order")
            next[t] += 1
        }
    }

    /// RDMA writes from two threads into disjoint halves of one region, with reads of the other
    /// half going the other way, on the same connection.
    @Test func concurrentRdmaBothWays() throws {
        let p = try tcp.pair()
        defer { p.close() }
        let half = 1 << 20
        let region = TestBuffer(2 * half), exposed = TestBuffer(pattern: 2 * half, seed: 77)
        let wdesc = try tcp.registerRdma(p.server, region, MEM_WRITE)
        let rdesc = try tcp.registerRdma(p.server, exposed, MEM_READ)
        let sources = [TestBuffer(pattern: half, seed: 1), TestBuffer(pattern: half, seed: 2)]
        let sinks = [TestBuffer(half), TestBuffer(half)]
        let handles = try sources.map { UInt(bitPattern: try tcp.register(p.client, $0, MEM_READ)) }
        let sinkHandles = try sinks.map { UInt(bitPattern: try tcp.register(p.client, $0, MEM_WRITE)) }
        let threads = (0..<2).map { i in
            TestThread {
                for chunk in 0..<16 {
                    let n = half / 16
                    let w = TestOverlapped(), r = TestOverlapped()
                    _ = tcp.rdma(write: true, p.client, [(sources[i].base + chunk * n, n, UnsafeMutableRawPointer(bitPattern: handles[i]))], wdesc,
                                 offset: UInt32(i * half + chunk * n), w)
                    _ = tcp.rdma(write: false, p.client, [(sinks[i].base + chunk * n, n, UnsafeMutableRawPointer(bitPattern: sinkHandles[i]))], rdesc,
                                 offset: UInt32(i * half + chunk * n), r)
                    _ = tcp.result(p.client, w, wait: true)
                    _ = tcp.result(p.client, r, wait: true)
                }
            }
        }
        for t in threads { t.join() }
        try RdmaTests.doneMessage(tcp, p)
        #expect(region.bytes(0..<half) == sources[0].bytes)
        #expect(region.bytes(half..<(2 * half)) == sources[1].bytes)
        #expect(sinks[0].bytes == exposed.bytes(0..<half))
        #expect(sinks[1].bytes == exposed.bytes(half..<(2 * half)))
    }
}
