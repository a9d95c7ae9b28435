import CSanTrace
import Foundation
import SanInterpose
import SanTraceFormat
import SanTraceStore
import Testing

@Suite("Recording through libsantrace.so")
struct RecordingTests {
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
        #expect(t.reader.isClosed)
        let report = try TraceVerifier.verify(path: t.reader.path)
        #expect(report.isIntact, "\(report.lines)")
        let c = try TraceCheck(t)
        #expect(c.gapless, "a thread's sequence numbers have a gap")
        // The main thread plus one per worker recorded events.
        #expect(c.perThread.count == threads + 1)
        #expect(t.counter("drops") == 0)
        #expect(t.counter("events") == c.events)
        #expect(c.events == t.counter("records")! + t.counter("inline_completions")! - t.counter("repeated_polls")!)
        // Every data-path call is there: sends and receives alternate, one operation each.
        #expect(c.count(.enter, "WSPSend") + c.count(.enter, "WSPRecv") == threads * ops)
        // Every operation completed exactly once, linked to its ENTER.
        #expect(c.count(.completion) == threads * ops)
        #expect(c.unlinked == 0)
        #expect(Set(c.completionStarts) == c.operationStarts)
        #expect(c.completionStarts.count == c.operationStarts.count)
        #expect(t.counter("unlinked_completions") == 0)
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
        #expect(plain.paths.isEmpty)
        let preloadTrace = try #require(try preload.traces().first)
        #expect(preloadTrace.meta["option.mode"] == "preload")
        #expect(preloadTrace.meta["provider_path"]?.hasSuffix("libsan_null.so") == true)
        #expect(preloadTrace.meta["provider_version"]?.hasPrefix("2.2") == true)
        // The unknown-GUID look-up is recorded with its error.
        let lookups = try preloadTrace.events.filter { $0.kind == .lookup }
        #expect(lookups.contains { $0["extension"] == .uint(0) && $0["status"] == .int(10022) })
        #expect(try layered.traces().first?.meta["option.mode"] == "layered")
    }

    @Test("san_smoke layered over null: look-ups, descriptors by capture id, a poll completion linked to its RDMA write")
    func smoke() throws {
        let run = try Harness.run("san_smoke", [Harness.interposer], environment: ["SANTRACE_PROVIDER": "null"])
        defer { run.cleanup() }
        #expect(run.status == 0, "\(run.stderr)")
        let t = try #require(try run.traces().first)
        let e = try t.events
        #expect(e.first?.kind == .enter && e.first?.function == .WSPStartupEx)
        let lookups = e.filter { $0.kind == .lookup }.map { $0["extension"] }
        #expect(lookups == (33...39).map { FieldValue.uint(UInt64($0)) })
        let regLeave = try #require(e.last { $0.kind == .leave && $0.function == .WSPRegisterRdmaMemory })
        guard case .uint(let desc)? = regLeave["descriptor"], desc != 0 else {
            Issue.record("no descriptor id in \(regLeave)")
            return
        }
        let descriptors = try t.descriptors()
        #expect(descriptors[desc]?.bytes.count == 24)
        #expect(descriptors[desc]?.registered == true)
        let write = try #require(e.first { $0.kind == .enter && $0.function == .WSPRdmaWrite })
        #expect(write["target"] == .uint(desc))
        let done = try #require(e.first { $0.kind == .completion })
        #expect(done["start"] == .callRef(thread: write.thread, sequence: write.threadSeq))
        #expect(done["via"] == .uint(2))  // poll
        #expect(done["bytes"] == .uint(1024))
        #expect(done["function"] == .uint(UInt64(FunctionID.WSPRdmaWrite.rawValue)))
        #expect(try TraceCheck(t).gapless)
        #expect(try TraceVerifier.verify(path: t.reader.path).isIntact)
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
        let expected = bytes.withUnsafeBytes { SanTraceFormat.payloadHash($0) }
        #expect(expected == bytes.withUnsafeBytes { csan_xxh64($0.baseAddress, $0.count, 0) })
        let e = try t.events
        let send = try #require(e.first { $0.kind == .enter && $0.function == .WSPSend })
        #expect(send["payload"] == .payload(.hashes([expected])))
        let recvDone = e.filter { $0.kind == .completion && $0["function"] == .uint(UInt64(FunctionID.WSPRecv.rawValue)) }
        #expect(recvDone.count == 3)
        for c in recvDone { #expect(c["payload"] == .payload(.hashes([expected]))) }
        #expect(t.reader.payloadPolicy == .hash)
    }

    @Test("SIGKILL mid-run: every committed segment is intact and verify says where the trace ends")
    func killed() throws {
        let run = try Harness.run("san_loop", ["--provider", Harness.interposer, "--threads", "2", "--ops",
                                               "100000000", "--mode", "poll"],
                                  environment: ["SANTRACE_PROVIDER": "null", "SANTRACE_FLUSH_MS": "20"],
                                  killAfterMilliseconds: 1500)
        defer { run.cleanup() }
        #expect(run.status != 0)
        let path = try #require(run.paths.first)
        let report = try TraceVerifier.verify(path: path)
        #expect(report.isIntact, "\(report.lines)")
        #expect(!report.closedCleanly)
        #expect(report.intactSegments.count >= 2)
        #expect(report.lines.contains { $0.contains("not closed cleanly") })
        let t = try Trace(path: path)
        #expect(t.meta["pid"] != nil)
        let c = try TraceCheck(t)
        #expect(c.events > 1000)
        #expect(c.gapless)
    }

    @Test("a trickle of calls is committed every flush interval, not every few hundred events")
    func trickle() throws {
        // 500 sends 2 ms apart (~1 s, ~1 500 events) with 20 ms segments: ~50 commits. A drain
        // that left the interval to the writer's own check (every 256 appends) makes ~6.
        let run = try Harness.run("san_loop", ["--provider", Harness.interposer, "--ops", "500", "--delay-us", "2000",
                                               "--mode", "sync"],
                                  environment: ["SANTRACE_PROVIDER": "null", "SANTRACE_FLUSH_MS": "20"])
        defer { run.cleanup() }
        #expect(run.status == 0, "\(run.stderr)")
        let report = try TraceVerifier.verify(path: try #require(run.paths.first))
        #expect(report.isIntact)
        #expect(report.intactSegments.count >= 15, "\(report.lines)")
    }

    @Test("a forked child writes its own trace, with its own drain")
    func forked() throws {
        let run = try Harness.run("san_loop", ["--provider", Harness.interposer, "--ops", "1000", "--fork"],
                                  environment: ["SANTRACE_PROVIDER": "null"])
        defer { run.cleanup() }
        #expect(run.status == 0, "\(run.stderr)")
        let traces = try run.traces()
        #expect(traces.count == 2)
        let child = try #require(traces.first { $0.meta["option.fork_generation"] == "1" })
        let parent = try #require(traces.first { $0.meta["option.fork_generation"] == "0" })
        #expect(child.meta["parent_pid"] == parent.meta["pid"])
        for t in [child, parent] {
            #expect(t.reader.isClosed)
            #expect(try TraceVerifier.verify(path: t.reader.path).isIntact)
            let c = try TraceCheck(t)
            #expect(c.gapless)
            #expect(c.count(.enter, "WSPSend") == 1000)
        }
        // The child starts after WSPStartupEx: no startup in its trace, only its own calls.
        #expect(try TraceCheck(child).count(.enter, "WSPStartupEx") == 0)
    }

    @Test("bad configuration: a clear message and WSASYSNOTREADY, nothing recorded")
    func badConfiguration() throws {
        let run = try Harness.run("san_loop", ["--provider", Harness.interposer],
                                  environment: ["SANTRACE_PROVIDER": "null", "SANTRACE_PAYLOAD": "everything"])
        defer { run.cleanup() }
        #expect(run.status == 1)
        #expect(run.stderr.contains("SANTRACE_PAYLOAD=everything: expected none, hash or full"))
        #expect(run.stderr.contains("WSPStartupEx returned 10091"))
        #expect(run.paths.isEmpty)
        let missing = try Harness.run("san_loop", ["--provider", Harness.interposer],
                                      environment: ["SANTRACE_PROVIDER": "nosuch"])
        defer { missing.cleanup() }
        #expect(missing.stderr.contains("libsan_nosuch.so not found"))
        let itself = try Harness.run("san_loop", ["--provider", Harness.interposer],
                                     environment: ["SANTRACE_PROVIDER": Harness.interposer])
        defer { itself.cleanup() }
        #expect(itself.stderr.contains("resolves to libsantrace.so itself"))
        let unwritable = try Harness.run("san_loop", ["--provider", Harness.interposer],
                                         environment: ["SANTRACE_PROVIDER": "null", "SANTRACE_DIR": "/proc/no/such"])
        defer { unwritable.cleanup() }
        #expect(unwritable.status == 1)
        #expect(unwritable.stderr.contains("cannot create /proc/no"))
    }
}
