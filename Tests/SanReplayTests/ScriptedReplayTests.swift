import SanTestSupport
import SanTraceFormat
import Testing

@testable import SanReplay

/// Planning and replaying scripted two-endpoint traces (Support/TraceScript.swift) on the real
/// tcp and null providers, in this process.
@Suite(.serialized)
struct ScriptedReplayTests {
    static var tcp: String { SanProducts.path("libsan_tcp.so") }
    static var null: String { SanProducts.path("libsan_null.so") }

    func options(_ dir: String, backend: String, _ policy: DivergencePolicy = .strict, timeout: Double = 10) -> ReplayOptions {
        var o = ReplayOptions(trace: dir)
        o.backend = backend
        o.divergence = policy
        o.timeoutSeconds = timeout
        return o
    }

    @Test func plansPairingSkipsAndChecks() throws {
        let tmp = TempFolder()
        try PairScript.write(into: tmp.path)
        let plan = try ReplayPlan.build(trace: tmp.path)
        #expect(plan.traces.map(\.name) == ["a-server", "b-client"])
        #expect(plan.traces.map(\.program) == ["server", "client"])
        // The client's socket 1 is connected to the server's accepted socket 2.
        #expect(plan.pairing.peer(SocketKey(endpoint: 1, socket: 1)) == .socket(SocketKey(endpoint: 0, socket: 2)))
        // The client's RDMA target is the server's registration, found by its bytes.
        #expect(plan.pairing.descriptors[DescriptorKey(endpoint: 1, descriptor: 1)] ==
                .registered(DescriptorKey(endpoint: 0, descriptor: 1)))
        let server = plan.endpoints[0], client = plan.endpoints[1]
        #expect(server.timingSkipped[.WSPAccept] == 1 && server.timingSkipped[.WSPGetOverlappedResult] == 1)
        #expect(client.timingSkipped[.WSPGetOverlappedResult] == 1)
        // The server checks the message and the region the write reached; the client the answer.
        #expect(server.checks.map(\.what) == [.receive, .rdmaWriteTarget])
        #expect(server.checks[1].length == 4096 && server.checks[1].blockOffset == 4096)
        #expect(client.checks.map(\.what) == [.receive])
        // The region and the control buffers share one block (a registration inside another).
        #expect(server.blocks.count == 1 && server.blocks[0].size == 8192)
        #expect(plan.synthetic.isEmpty && plan.notes.isEmpty)
    }

    @Test func replaysOnTCPWithDataChecks() throws {
        let tmp = TempFolder()
        try PairScript.write(into: tmp.path, .init(port: 5001))
        let r = try Replayer.run(self.options(tmp.path, backend: Self.tcp))
        #expect(r.ok, "\(r.text.joined(separator: "\n"))")
        #expect(r.dataChecks == 3 && r.dataFailures == 0 && r.dataBytesChecked == 100 + 4096 + 50)
        #expect(r.calls("WSPRdmaWrite") == 1 && r.calls("WSPGetOverlappedResult") == 5)
        #expect(r.timingSkipped["WSPGetOverlappedResult"] == 2 && r.timingSkipped["WSPAccept"] == 1)
        #expect(r.transport?.contains("moves data") == true)
    }

    @Test func fullTracesSendTheRecordedBytes() throws {
        let tmp = TempFolder()
        let bytes = (0..<100).map { UInt8(truncatingIfNeeded: $0 * 7 + 3) }
        try PairScript.write(into: tmp.path, .init(fullPayload: bytes, port: 5007))
        let plan = try ReplayPlan.build(trace: tmp.path)
        let client = plan.endpoints[1], server = plan.endpoints[0]
        let send = try #require(client.ops.first { $0.kind == .send })
        #expect(send.content.kind == .recorded && client.recorded[Int(send.content.recorded)] == bytes)
        // The server checks the message against the same bytes (copied into its own plan).
        let check = try #require(server.checks.first { $0.what == .receive })
        #expect(check.content.kind == .recorded && server.recorded[Int(check.content.recorded)] == bytes)
        let r = try Replayer.run(self.options(tmp.path, backend: Self.tcp))
        #expect(r.ok && r.dataChecks == 3 && r.dataFailures == 0, "\(r.text.joined(separator: "\n"))")
    }

    @Test func replaysOnNullWithoutDataChecks() throws {
        let tmp = TempFolder()
        try PairScript.write(into: tmp.path, .init(port: 5002))
        let r = try Replayer.run(self.options(tmp.path, backend: Self.null))
        #expect(r.ok, "\(r.text.joined(separator: "\n"))")
        #expect(r.dataChecks == 0 && r.dataSkipped == 3)
        #expect(r.transport?.contains("moves no data") == true)
        #expect(r.unavailable.isEmpty)
    }

    @Test func byteCountDivergenceIsReportedWhereItHappened() throws {
        let tmp = TempFolder()
        try PairScript.write(into: tmp.path, .init(serverReceiveBytes: 99, port: 5003))
        let r = try Replayer.run(self.options(tmp.path, backend: Self.tcp))
        #expect(!r.ok)
        let d = try #require(r.divergences.first)
        #expect(d.kind == .bytes && d.endpoint == "a-server" && d.thread == 1)
        #expect(d.function == "WSPRecv completion" && d.overlapped == 1)
        #expect(d.recorded == "99 bytes" && d.live == "100 bytes")
        #expect(r.uncheckable["message whose recorded length differs from its send"] == 1)
        #expect(r.stopped == "strict: stopped at the first divergence")
        // Report mode goes on to the end and still fails the run.
        let all = try Replayer.run(self.options(tmp.path, backend: Self.tcp, .report))
        #expect(all.stopped == nil && all.totalDivergences == 1 && !all.ok)
        #expect(all.dataChecks == 2 && all.dataFailures == 0)
    }

    @Test func strictStopsAtAFailedRegistration() throws {
        let tmp = TempFolder()
        try PairScript.write(into: tmp.path, .init(clientRegistrationFails: true, port: 5004))
        let strict = try Replayer.run(self.options(tmp.path, backend: Self.tcp))
        let d = try #require(strict.divergences.first)
        #expect(d.kind == .result && d.function == "WSPRegisterMemory" && d.endpoint == "b-client")
        #expect(d.recorded.contains("WSAENOBUFS") && d.live == "ret 0")
        #expect(strict.totalDivergences == 1 && strict.stopped != nil)
    }

    @Test func oneSidedTraceGetsASyntheticPeer() throws {
        let tmp = TempFolder()
        try PairScript.write(into: tmp.path, .init(clientOnly: true, port: 5005))
        let r = try Replayer.run(self.options(tmp.path, backend: Self.tcp))
        #expect(r.ok, "\(r.text.joined(separator: "\n"))")
        #expect(r.synthetic.count == 1 && r.endpoints == ["b-client"])
        // The peer checks the message and the written region; the client checks the answer.
        #expect(r.dataChecks == 3 && r.dataFailures == 0)
    }

    @Test func aWaitThatNeverEndsIsReportedNotHung() throws {
        let tmp = TempFolder()
        try PairScript.write(into: tmp.path, .init(serverAnswers: false, port: 5006))
        let r = try Replayer.run(self.options(tmp.path, backend: Self.tcp, timeout: 1))
        let d = try #require(r.divergences.first)
        #expect(d.kind == .stuck && d.endpoint == "b-client" && d.function == "WSPGetOverlappedResult")
        #expect(d.live.contains("still waiting after 1.0 s for the completion of WSPRecv"))
        #expect(!r.ok)
    }

    @Test func objectsNeverCreatedAreInvalidNotAwaited() throws {
        let tmp = TempFolder()
        let s = try TraceScript(tmp.path + "/x.santrace")
        // A socket and a handle from before the recording began: the calls failed then, and fail
        // the same way live, at once.
        try s.call(.WSPCloseSocket, [.uint(7)], [.int(-1), .int(10038)])
        try s.call(.WSPDeregisterMemory, [.uint(7), .uint(3)], [.int(-1), .int(10038)])
        try s.close()
        let r = try Replayer.run(self.options(tmp.path, backend: Self.tcp, timeout: 5))
        #expect(r.ok, "\(r.text.joined(separator: "\n"))")
        #expect(r.callsCompared == 2 && r.wallSeconds < 2)
        #expect(r.notes.contains { $0.contains("1 socket(s), 1 memory handle(s) and 0 descriptor(s) are used but never created") })
    }
}
