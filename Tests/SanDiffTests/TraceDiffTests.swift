import Glibc
import SanTraceFormat
import SanTraceStore
import Testing

@testable import SanDiff
import TraceTestSupport

@Suite struct TraceDiffTests {
    /// Two runs of one deterministic program with other timing: other delays, another number of
    /// polls that find the write still running, other event counts — and no divergence.
    @Test func anotherTimingIsEqual() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let a = dir.file("a.santrace"), b = dir.file("b.santrace")
        try Traces.synthetic(a, variation: SyntheticVariation(timingSeed: 1))
        try Traces.synthetic(b, variation: SyntheticVariation(timingSeed: 2))
        #expect(try TraceReader(path: a).eventCount != TraceReader(path: b).eventCount)
        let r = try TraceDiff.run(a: a, b: b)
        #expect(r.semantic.isEqual, "\(r.semantic.details.map { "\($0.kind) \($0.a) | \($0.b)" })")
        #expect(r.semantic.callsCompared > 10_000)
        #expect(r.semantic.completionsCompared > 4_000)
        #expect(r.performance.regressions.isEmpty)
        #expect(r.verdict == .equal)
    }

    @Test func aTraceEqualsItself() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let a = dir.file("a.santrace")
        try Traces.synthetic(a, iterations: 500)
        let r = try TraceDiff.run(a: a, b: a)
        #expect(r.verdict == .equal)
        #expect(r.performance.rows.allSatisfy { !$0.significant })
    }

    /// The injected regression: RDMA writes 1.5 times slower. Found with significance, and
    /// nothing else is called a regression.
    @Test func slowerRdmaWritesAreARegression() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let a = dir.file("a.santrace"), b = dir.file("b.santrace")
        try Traces.synthetic(a, .writeBandwidth, iterations: 3000, variation: SyntheticVariation(timingSeed: 1))
        try Traces.synthetic(b, .writeBandwidth, iterations: 3000,
                             variation: SyntheticVariation(timingSeed: 2, slowdown: [.WSPRdmaWrite: 1.5]))
        let r = try TraceDiff.run(a: a, b: b)
        #expect(r.semantic.isEqual)
        #expect(r.verdict == .regression)
        let regs = r.performance.regressions
        #expect(regs.count == 1)
        let w = try #require(regs.first)
        #expect(w.function == .WSPRdmaWrite && SizeClass.label(w.sizeClass) == "64K")
        #expect((w.test?.p ?? 1) < 1e-6)
        #expect((w.p50Change ?? 0) > 0.2)
        // Past a threshold above the change it is still significant, but no regression.
        var o = DiffOptions()
        o.threshold = 2
        #expect(try TraceDiff.run(a: a, b: b, options: o).verdict == .equal)
    }

    /// The injected semantic change: one RDMA write fails. The first divergence is that call,
    /// with context from both traces.
    @Test func aFailingCallIsTheFirstDivergence() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let a = dir.file("a.santrace"), b = dir.file("b.santrace")
        try Traces.synthetic(a, .writeBandwidth, iterations: 2000, variation: SyntheticVariation(timingSeed: 1))
        try Traces.synthetic(b, .writeBandwidth, iterations: 2000, variation: SyntheticVariation(timingSeed: 2, failRdmaWriteAt: 700))
        let r = try TraceDiff.run(a: a, b: b)
        #expect(r.verdict == .divergence)
        let first = try #require(r.semantic.first)
        #expect(first.kind == .status)
        #expect(first.function == "WSPRdmaWrite")
        #expect(first.a == "completed: ok, 65536 bytes")
        #expect(first.b == "failed at the call: WSAECONNRESET")
        // The B event named is the 701st RDMA write's ENTER.
        let bEvents = try TraceReader(path: b).events()
        let writes = bEvents.filter { $0.kind == .enter && $0.function == .WSPRdmaWrite }
        #expect(first.seqB == writes[700].sequence)
        let ctx = try #require(r.semantic.firstContext)
        #expect(ctx.b.contains { $0.hasPrefix("→") && $0.contains("WSPRdmaWrite") })
        #expect(ctx.b.contains { $0.contains("WSAECONNRESET") })
        #expect(ctx.a.count >= 5)
    }

    /// Two threads create their sockets in the other order: raw capture ids swap, normalized ids
    /// do not.
    @Test func captureIdsAreNormalizedPerThread() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        func run(_ swapped: Bool, crossed: Bool = false) -> [TraceEvent] {
            var s = EventScript()
            s.add(.lookup, .none, thread: 1, [.bytes([UInt8](repeating: 1, count: 16)), .uint(33), .int(0)])
            s.add(.lookup, .none, thread: 2, [.bytes([UInt8](repeating: 1, count: 16)), .uint(33), .int(0)])
            let (s1, s2): (UInt64, UInt64) = swapped ? (2, 1) : (1, 2)
            if swapped {
                s.socket(s2, thread: 2)
                s.socket(s1, thread: 1)
            } else {
                s.socket(s1, thread: 1)
                s.socket(s2, thread: 2)
            }
            let w1 = s.rdmaWrite(socket: crossed ? s2 : s1, ov: 5, thread: 1)
            let w2 = s.rdmaWrite(socket: s2, ov: 6, length: 8192, thread: 2)
            s.complete(.WSPRdmaWrite, startThread: 1, seq: w1, socket: s1, ov: 5, thread: 1)
            s.complete(.WSPRdmaWrite, startThread: 2, seq: w2, socket: s2, ov: 6, bytes: 8192, thread: 2)
            return s.events
        }
        let a = dir.file("a.santrace"), b = dir.file("b.santrace"), c = dir.file("c.santrace")
        try Traces.write(a, run(false))
        try Traces.write(b, run(true))
        try Traces.write(c, run(true, crossed: true))
        let r = try TraceDiff.run(a: a, b: b)
        #expect(r.semantic.isEqual, "\(r.semantic.details.map { "\($0.kind) \($0.a) | \($0.b)" })")
        #expect(r.semantic.callsCompared == 6)  // two look-ups, two WSPSockets, two RDMA writes
        // Thread 1 writing on thread 2's socket is a different program.
        let x = try TraceDiff.run(a: a, b: c)
        #expect(x.semantic.counts[.missingCall] == 1 && x.semantic.counts[.extraCall] == 1)
    }

    /// A loop-back client and server in one process: which thread calls first, and so which
    /// creates socket 1, is a race. Threads are paired by what they do, not by who came first.
    @Test func threadsArePairedByWhatTheyDo() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        func run(serverFirst: Bool) -> [TraceEvent] {
            var s = EventScript()
            // Thread 1 is whichever called first (capture ids are handed out in that order).
            let server: UInt32 = serverFirst ? 1 : 2, client: UInt32 = serverFirst ? 2 : 1
            let (ls, cs): (UInt64, UInt64) = serverFirst ? (1, 2) : (2, 1)
            for t in serverFirst ? [server, client] : [client, server] {
                s.socket(t == server ? ls : cs, thread: t)
            }
            s.add(.enter, .WSPListen, thread: server, [.uint(ls), .int(5)])
            s.add(.leave, .WSPListen, thread: server, [.int(0), .int(0)])
            s.add(.enter, .WSPConnect, thread: client, [.uint(cs), .bytes([2, 0, 0x9c, 0x41, 127, 0, 0, 1])])
            s.add(.leave, .WSPConnect, thread: client, [.int(0), .int(0)])
            let w = s.rdmaWrite(socket: cs, ov: 9, thread: client)
            s.complete(.WSPRdmaWrite, startThread: client, seq: w, socket: cs, ov: 9, thread: client)
            return s.events
        }
        let a = dir.file("a.santrace"), b = dir.file("b.santrace")
        try Traces.write(a, run(serverFirst: true))
        try Traces.write(b, run(serverFirst: false))
        let r = try TraceDiff.run(a: a, b: b)
        #expect(r.semantic.isEqual, "\(r.semantic.details.map { "\($0.kind) t\($0.thread) \($0.a) | \($0.b)" })")
        #expect(r.semantic.callsCompared == 5)  // two sockets, listen, connect, one write
        let plan = ThreadMatching.plan(try ThreadMatching.threads(a), try ThreadMatching.threads(b))
        #expect(plan.a == [1: 1, 2: 2] && plan.b == [2: 1, 1: 2])
    }

    @Test func payloadChecksumsAreComparedWhenBothHaveThem() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        func run(_ hash: UInt64) -> [TraceEvent] {
            var s = EventScript()
            s.socket(1)
            let w = s.rdmaWrite(socket: 1, ov: 3, payload: .hashes([hash]))
            s.complete(.WSPRdmaWrite, seq: w, socket: 1, ov: 3)
            return s.events
        }
        let a = dir.file("a.santrace"), b = dir.file("b.santrace"), same = dir.file("same.santrace")
        try Traces.write(a, run(0x1111), payload: .hash)
        try Traces.write(b, run(0x2222), payload: .hash)
        try Traces.write(same, run(0x1111), payload: .hash)
        let r = try TraceDiff.run(a: a, b: b)
        #expect(r.semantic.counts[.payload] == 1)
        #expect(r.semantic.total == 1)
        #expect(try TraceDiff.run(a: a, b: same).semantic.isEqual)
    }

    @Test func statusBytesAndCompletionOrder() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        func run(swapCompletions: Bool, status: Int64 = 0, bytes: UInt64 = 4096) -> [TraceEvent] {
            var s = EventScript()
            s.socket(1)
            let w1 = s.rdmaWrite(socket: 1, ov: 1)
            let w2 = s.rdmaWrite(socket: 1, ov: 2)
            let w3 = s.rdmaWrite(socket: 1, ov: 3)
            var order = [(w1, UInt64(1)), (w2, UInt64(2)), (w3, UInt64(3))]
            if swapCompletions { order.swapAt(0, 1) }
            for (i, (w, ov)) in order.enumerated() {
                s.complete(.WSPRdmaWrite, seq: w, socket: 1, ov: ov, status: i == 2 ? status : 0, bytes: i == 2 ? bytes : 4096)
            }
            return s.events
        }
        let a = dir.file("a.santrace")
        try Traces.write(a, run(swapCompletions: false))
        let swapped = dir.file("swapped.santrace")
        try Traces.write(swapped, run(swapCompletions: true))
        let r = try TraceDiff.run(a: a, b: swapped)
        #expect(r.semantic.counts[.completionOrder] == 1)
        #expect(r.semantic.total == 1)
        let failed = dir.file("failed.santrace")
        try Traces.write(failed, run(swapCompletions: false, status: 10054, bytes: 0))
        let f = try TraceDiff.run(a: a, b: failed)
        #expect(f.semantic.counts[.status] == 1)
        #expect(f.semantic.counts[.bytes] == 1)
        #expect(f.semantic.first?.b.contains("WSAECONNRESET") == true)
    }

    /// An overlapped call may complete at once or go pending, by timing: compared by outcome.
    @Test func immediateSuccessEqualsPendingThenCompleted() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        func run(immediate: Bool, bytes: UInt64 = 4096) -> [TraceEvent] {
            var s = EventScript()
            s.socket(1)
            let w = s.add(.enter, .WSPRdmaWrite, [
                .uint(1), .buffers([BufferRef(length: 4096, registration: 1, offset: 0, handle: 1)]), .uint(7), .uint(4096),
                .uint(0), .uint(0), .uint(3), .uint(2), .payload(.none),
            ])
            if immediate {
                s.add(.leave, .WSPRdmaWrite, [.int(0), .int(0), .uint(bytes)])
            } else {
                s.add(.leave, .WSPRdmaWrite, [.int(-1), .int(997), .uint(0)])
                s.complete(.WSPRdmaWrite, seq: w, socket: 1, ov: 3, bytes: bytes)
            }
            return s.events
        }
        let a = dir.file("a.santrace"), b = dir.file("b.santrace"), c = dir.file("c.santrace")
        try Traces.write(a, run(immediate: false))
        try Traces.write(b, run(immediate: true))
        try Traces.write(c, run(immediate: true, bytes: 100))
        #expect(try TraceDiff.run(a: a, b: b).semantic.isEqual)
        let x = try TraceDiff.run(a: a, b: c)
        #expect(x.semantic.counts[.bytes] == 1 && x.semantic.total == 1)
        #expect(x.semantic.first?.b == "completed at once: 100 bytes")
    }

    @Test func incompletePollsAreNotDivergences() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        func run(polls: Int) -> [TraceEvent] {
            var s = EventScript()
            s.socket(1)
            let w = s.rdmaWrite(socket: 1, ov: 4)
            for _ in 0..<polls {
                s.add(.enter, .WSPGetOverlappedResult, [.uint(1), .uint(4), .uint(0)])
                s.add(.leave, .WSPGetOverlappedResult, [.uint(0), .int(996), .uint(0), .uint(0)])
            }
            // A program that found nothing polling blocks instead (fWait): the same poll.
            s.add(.enter, .WSPGetOverlappedResult, [.uint(1), .uint(4), .uint(polls > 0 ? 1 : 0)])
            s.add(.leave, .WSPGetOverlappedResult, [.uint(1), .int(0), .uint(4096), .uint(0)])
            s.complete(.WSPRdmaWrite, seq: w, socket: 1, ov: 4)
            return s.events
        }
        let a = dir.file("a.santrace"), b = dir.file("b.santrace")
        try Traces.write(a, run(polls: 0))
        try Traces.write(b, run(polls: 5))
        let r = try TraceDiff.run(a: a, b: b)
        #expect(r.semantic.isEqual)
        #expect(r.semantic.callsCompared == 3)
    }

    /// A listener waiting for a connection: each wait that times out re-arms its event and
    /// accepts again (WSAEWOULDBLOCK). How many rounds it makes is timing; what it then does is not.
    @Test func waitLoopRoundsAreTiming() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        func run(rounds: Int, extra: Bool = false, accepts: Bool = true) -> [TraceEvent] {
            var s = EventScript()
            s.socket(1)
            s.add(.enter, .WSPEventSelect, [.uint(1), .uint(1), .uint(8)])
            s.add(.leave, .WSPEventSelect, [.int(0), .int(0)])
            for r in 0..<rounds {
                if r > 0 {
                    s.add(.enter, .WSPEventSelect, [.uint(1), .uint(0), .uint(0)])
                    s.add(.leave, .WSPEventSelect, [.int(0), .int(0)])
                    s.add(.enter, .WSPEventSelect, [.uint(1), .uint(1), .uint(8)])
                    s.add(.leave, .WSPEventSelect, [.int(0), .int(0)])
                }
                // A replay waits for the connection itself: it re-arms, but makes no accept that
                // would block.
                guard accepts else { continue }
                s.add(.enter, .WSPAccept, [.uint(1), .uint(1)])
                s.add(.leave, .WSPAccept, [.uint(0), .int(10035), .bytes([])])
            }
            if extra {  // a real difference after the loop
                s.add(.enter, .WSPEventSelect, [.uint(1), .uint(0), .uint(0)])
                s.add(.leave, .WSPEventSelect, [.int(0), .int(0)])
            }
            s.add(.enter, .WSPAccept, [.uint(1), .uint(1)])
            s.add(.leave, .WSPAccept, [.uint(2), .int(0), .bytes([2, 0, 0, 1, 127, 0, 0, 1])])
            return s.events
        }
        let a = dir.file("a.santrace"), b = dir.file("b.santrace"), c = dir.file("c.santrace")
        let d = dir.file("d.santrace")
        try Traces.write(a, run(rounds: 1))
        try Traces.write(b, run(rounds: 4))
        try Traces.write(c, run(rounds: 4, extra: true))
        try Traces.write(d, run(rounds: 9, accepts: false))
        for other in [b, d] {
            let r = try TraceDiff.run(a: a, b: other)
            #expect(r.semantic.isEqual, "\(r.semantic.details.map { "\($0.kind) \($0.function) \($0.a) | \($0.b)" })")
        }
        // Deselecting before the accept is a real difference: the socket is in another state when
        // it accepts (the run of event selects counts as its last one, WSPEventSelect(0)).
        let rc = try TraceDiff.run(a: a, b: c)
        #expect(!rc.semantic.isEqual)
        #expect(rc.semantic.details.first?.function == "WSPEventSelect")
    }

    /// Trace sets: endpoints paired by program and role; one missing is a divergence.
    @Test func traceSetsPairByProgramAndRole() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        func listener() -> [TraceEvent] {
            var s = EventScript()
            s.socket(1)
            s.add(.enter, .WSPListen, [.uint(1), .int(5)])
            s.add(.leave, .WSPListen, [.int(0), .int(0)])
            return s.events
        }
        func connector() -> [TraceEvent] {
            var s = EventScript()
            s.socket(1)
            s.add(.enter, .WSPConnect, [.uint(1), .bytes([2, 0, 0x9c, 0x41, 127, 0, 0, 1])])
            s.add(.leave, .WSPConnect, [.int(0), .int(0)])
            return s.events
        }
        for run in ["a", "b"] {
            mkdir(dir.file(run), 0o755)
            // File names sort the other way round in b: pairing does not go by name.
            try Traces.write(dir.file(run + (run == "a" ? "/1.santrace" : "/2.santrace")), listener(), argv: ["/usr/bin/server"])
            try Traces.write(dir.file(run + (run == "a" ? "/2.santrace" : "/1.santrace")), connector(), argv: ["./client"])
        }
        let eps = try TraceDiff.endpoints(dir.file("a"))
        #expect(Set(eps.map(\.name)) == ["server/listener", "client/connector"])
        let r = try TraceDiff.run(a: dir.file("a"), b: dir.file("b"))
        #expect(r.pairs.count == 2)
        #expect(r.semantic.isEqual)
        #expect(r.pairs.allSatisfy { $0.a.name == $0.b.name })
        // A third process only in B.
        try Traces.write(dir.file("b/3.santrace"), connector(), argv: ["./client"])
        let x = try TraceDiff.run(a: dir.file("a"), b: dir.file("b"))
        #expect(x.semantic.counts[.extraEndpoint] == 1)
        #expect(x.verdict == .divergence)
        // Under another program name (a replay), processes pair by role.
        let renamed = EndpointPairing.match(try TraceDiff.endpoints(dir.file("a")),
                                            try TraceDiff.endpoints(dir.file("a")).map { e in
                                                var r = e
                                                r.program = "replayer"
                                                return r
                                            })
        #expect(renamed.pairs.count == 2 && renamed.onlyA.isEmpty && renamed.onlyB.isEmpty)
        #expect(renamed.pairs.allSatisfy { $0.a.role == $0.b.role })
        for f in ["a/1", "a/2", "b/1", "b/2", "b/3"] { unlink(dir.file(f + ".santrace")) }
        rmdir(dir.file("a"))
        rmdir(dir.file("b"))
    }
}
