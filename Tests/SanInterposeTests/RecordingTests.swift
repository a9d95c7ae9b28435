import CSanTrace
import Foundation
import SanInterpose
import Testing

@Suite("Recording through libsantrace.so")
struct RecordingTests {
    static let fnSend: UInt8 = 23, fnRecv: UInt8 = 19, fnGetOverlappedResult: UInt8 = 11
    static let fnRdmaWrite: UInt8 = 37, fnRegisterRdma: UInt8 = 35

    @Test("8 threads × 100,000 operations: every event present, sequences without gaps, every completion linked")
    func concurrentThreads() throws {
        let threads = 8, ops = 100_000
        let run = try Harness.run("san_loop", ["--provider", Harness.interposer, "--threads", "\(threads)", "--ops",
                                               "\(ops)", "--mode", "mixed"],
                                  environment: ["SANTRACE_PROVIDER": "null"])
        defer { run.cleanup() }
        #expect(run.status == 0, "\(run.stderr)")
        let traces = try run.traces()
        #expect(traces.count == 1)
        let t = try #require(traces.first)
        #expect(t.damage == nil)
        let events = t.events
        let counts = try #require(TraceChecks.gaplessSequences(events), "a thread's sequence numbers have a gap")
        // The main thread plus one per worker recorded events.
        #expect(counts.count == threads + 1)
        #expect(t.stats["drops"] == "0")
        #expect(t.stats["records"] == String(events.filter { $0.thread != 0 }.count))
        // Every data-path call is there: sends and receives alternate, one operation each.
        let dataEnters = events.filter { $0.kind == .enter && ($0.function == Self.fnSend || $0.function == Self.fnRecv) }
        #expect(dataEnters.count == threads * ops)
        // Every operation completed exactly once, linked to its ENTER.
        let completions = events.filter { $0.kind == .completion }
        #expect(completions.count == threads * ops)
        var starts = Set<String>()
        for c in completions {
            let s = try #require(TraceChecks.start(of: c), "unlinked completion \(c)")
            starts.insert("\(s.0)/\(s.1)")
        }
        let enterRefs = Set(dataEnters.map { "\($0.thread)/\($0.sequence)" })
        #expect(starts == enterRefs)
        #expect(t.stats["unlinked_completions"] == "0")
    }

    @Test("a traced program behaves exactly as untraced (layered and preload)")
    func sameBehaviour() throws {
        let args = ["--errors", "--threads", "2", "--ops", "500", "--mode", "mixed"]
        let plain = try Harness.run("san_loop", args)
        defer { plain.cleanup() }
        let layered = try Harness.run("san_loop", ["--provider", Harness.interposer] + args,
                                      environment: ["SANTRACE_PROVIDER": "null"])
        defer { layered.cleanup() }
        let preload = try Harness.run("san_loop", args, environment: ["LD_PRELOAD": Harness.interposer])
        defer { preload.cleanup() }
        #expect(plain.status == 0)
        #expect(plain.stdout.contains("err=10038"))
        #expect(layered.status == plain.status && layered.stdout == plain.stdout)
        #expect(preload.status == plain.status && preload.stdout == plain.stdout)
        #expect(try plain.traces().isEmpty)
        let preloadTrace = try #require(try preload.traces().first)
        #expect(preloadTrace.metadata["mode"] == "preload")
        #expect(preloadTrace.metadata["provider"]?.hasSuffix("libsan_null.so") == true)
        // The unknown-GUID look-up is recorded with its error.
        let lookups = preloadTrace.events.filter { $0.kind == .lookup }
        #expect(lookups.contains { $0.fields[1] == .uint(0) && $0.fields[2] == .int(10022) })
        #expect(try layered.traces().first?.metadata["mode"] == "layered")
    }

    @Test("san_smoke layered over null: look-ups, descriptors by capture id, a poll completion linked to its RDMA write")
    func smoke() throws {
        let run = try Harness.run("san_smoke", [Harness.interposer], environment: ["SANTRACE_PROVIDER": "null"])
        defer { run.cleanup() }
        #expect(run.status == 0, "\(run.stderr)")
        let t = try #require(try run.traces().first)
        let e = t.events
        #expect(e.first?.kind == .enter && e.first?.function == 32)  // WSPStartupEx
        let lookups = e.filter { $0.kind == .lookup }.map { $0.fields[1] }
        #expect(lookups == (33...39).map { TraceValue.uint(UInt64($0)) })
        let regLeave = try #require(e.last { $0.kind == .leave && $0.function == Self.fnRegisterRdma })
        guard case .object(let desc) = regLeave.fields[3], desc != 0 else {
            Issue.record("no descriptor id in \(regLeave)")
            return
        }
        #expect(t.descriptors[desc]?.count == 24)
        let write = try #require(e.first { $0.kind == .enter && $0.function == Self.fnRdmaWrite })
        #expect(write.fields[2] == .object(desc))
        let done = try #require(e.first { $0.kind == .completion })
        let start = try #require(TraceChecks.start(of: done))
        #expect(start.0 == write.thread && start.1 == write.sequence)
        #expect(done.fields[7] == .uint(2))  // via poll
        #expect(done.fields[5] == .uint(1024))
        #expect(TraceChecks.gaplessSequences(e) != nil)
    }

    @Test("payload hash: xxh64 of each buffer at send enter and at receive completion")
    func payloadHash() throws {
        let size = 100
        let run = try Harness.run("san_loop", ["--provider", Harness.interposer, "--ops", "6", "--size", "\(size)",
                                               "--mode", "mixed"],
                                  environment: ["SANTRACE_PROVIDER": "null", "SANTRACE_PAYLOAD": "hash"])
        defer { run.cleanup() }
        #expect(run.status == 0, "\(run.stderr)")
        let t = try #require(try run.traces().first)
        let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 * 31) }  // thread index 0
        let expected = bytes.withUnsafeBytes { csan_xxh64($0.baseAddress, $0.count, 0) }
        let send = try #require(t.events.first { $0.kind == .enter && $0.function == Self.fnSend })
        #expect(send.fields[5] == .payload(TracePayload(mode: .hash, entries: [.init(length: UInt64(size),
                                                                                     hash: expected, bytes: [])])))
        let recvDone = t.events.filter { $0.kind == .completion && $0.fields[2] == .uint(UInt64(Self.fnRecv)) }
        #expect(!recvDone.isEmpty)
        for c in recvDone {
            guard case .payload(let p) = c.fields[8] else {
                Issue.record("no payload in \(c)")
                continue
            }
            #expect(p.mode == .hash && p.entries.first?.hash == expected)
        }
        #expect(t.metadata["payload"] == "hash")
    }

    @Test("SIGKILL mid-run: every flushed block is readable")
    func killed() throws {
        let run = try Harness.run("san_loop", ["--provider", Harness.interposer, "--threads", "2", "--ops",
                                               "100000000", "--mode", "poll"],
                                  environment: ["SANTRACE_PROVIDER": "null", "SANTRACE_FLUSH_MS": "20"],
                                  killAfterMilliseconds: 1500)
        defer { run.cleanup() }
        #expect(run.status != 0)
        let t = try #require(try run.traces().first)
        #expect(t.blocks >= 2)
        #expect(t.metadata["pid"] != nil)
        #expect(t.events.count > 1000)
        #expect(TraceChecks.gaplessSequences(t.events) != nil)
    }

    @Test("a forked child writes its own trace, with its own drain")
    func forked() throws {
        let run = try Harness.run("san_loop", ["--provider", Harness.interposer, "--ops", "1000", "--fork"],
                                  environment: ["SANTRACE_PROVIDER": "null"])
        defer { run.cleanup() }
        #expect(run.status == 0, "\(run.stderr)")
        let traces = try run.traces()
        #expect(traces.count == 2)
        let child = try #require(traces.first { $0.metadata["fork_generation"] == "1" })
        let parent = try #require(traces.first { $0.metadata["fork_generation"] == "0" })
        #expect(child.metadata["parent_pid"] == parent.metadata["pid"])
        for t in [child, parent] {
            #expect(t.damage == nil)
            #expect(TraceChecks.gaplessSequences(t.events) != nil)
            let sends = t.events.filter { $0.kind == .enter && $0.function == Self.fnSend }
            #expect(sends.count == 1000)
        }
        // The child starts after WSPStartupEx: no startup in its trace, only its own calls.
        #expect(!child.events.contains { $0.function == 32 })
    }

    @Test("bad configuration: a clear message and WSASYSNOTREADY, nothing recorded")
    func badConfiguration() throws {
        let run = try Harness.run("san_loop", ["--provider", Harness.interposer],
                                  environment: ["SANTRACE_PROVIDER": "null", "SANTRACE_PAYLOAD": "everything"])
        defer { run.cleanup() }
        #expect(run.status == 1)
        #expect(run.stderr.contains("SANTRACE_PAYLOAD=everything: expected none, hash or full"))
        #expect(run.stderr.contains("WSPStartupEx returned 10091"))
        let missing = try Harness.run("san_loop", ["--provider", Harness.interposer],
                                      environment: ["SANTRACE_PROVIDER": "nosuch"])
        defer { missing.cleanup() }
        #expect(missing.stderr.contains("libsan_nosuch.so not found"))
        let itself = try Harness.run("san_loop", ["--provider", Harness.interposer],
                                     environment: ["SANTRACE_PROVIDER": Harness.interposer])
        defer { itself.cleanup() }
        #expect(itself.stderr.contains("resolves to libsantrace.so itself"))
    }
}
