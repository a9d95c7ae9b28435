import CSanTrace
import SanInterpose
import Testing

@Suite("Interposer units")
struct UnitTests {
    @Test("xxh64 matches the reference vectors")
    func xxh64() {
        #expect(csan_xxh64(nil, 0, 0) == 0xEF46_DB37_51D8_E999)
        let abc = Array("abc".utf8)
        #expect(abc.withUnsafeBytes { csan_xxh64($0.baseAddress, 3, 0) } == 0x44BC_2CF5_AD77_0999)
        let long = Array("Nobody inspects the spammish repetition".utf8)
        #expect(long.withUnsafeBytes { csan_xxh64($0.baseAddress, $0.count, 0) } == 0xFBCE_A83C_8A37_8BF1)
    }

    @Test("configuration from the environment, and clear errors")
    func config() throws {
        let env = ["SANTRACE_DIR": "/tmp/x", "SANTRACE_PAYLOAD": "full", "SANTRACE_FLUSH_MS": "5",
                   "SANTRACE_LOSSY": "1", "SANTRACE_PROVIDER": "tcp", "SANTRACE_RING_KB": "256"]
        let c = try TraceConfig.fromEnvironment { env[$0] }
        #expect(c.directory == "/tmp/x" && c.payload == .full && c.flushMilliseconds == 5 && c.lossy)
        #expect(c.provider == "tcp" && c.ringKilobytes == 256)
        let d = try TraceConfig.fromEnvironment { _ in nil }
        #expect(d == TraceConfig())
        #expect(throws: TraceConfig.Invalid.self) { try TraceConfig.fromEnvironment { $0 == "SANTRACE_RING_KB" ? "1" : nil } }
        #expect(throws: TraceConfig.Invalid.self) { try TraceConfig.fromEnvironment { $0 == "SANTRACE_LOSSY" ? "yes" : nil } }
    }

    @Test("provider short names resolve through SAN_PROVIDER_PATH; bad names are refused")
    func resolve() throws {
        let dir = Harness.tempDirectory()
        let file = dir + "/libsan_fake.so"
        #expect(FileManagerShim.touch(file))
        #expect(try ProviderResolver.locate("fake", providerPath: "/nonexistent:" + dir) == file)
        #expect(throws: ProviderResolver.Failure.self) { try ProviderResolver.locate("../x", providerPath: dir) }
        #expect(throws: ProviderResolver.Failure.self) { try ProviderResolver.locate("absent", providerPath: dir) }
    }

    @Test("a torn last block leaves the earlier blocks readable; garbage is refused")
    func tornBlock() throws {
        #expect(throws: RawTraceCodec.FormatError.self) { try RawTraceCodec.decode(Array("not a trace".utf8)) }
        let dir = Harness.tempDirectory()
        let sink = try RawFileSink(path: dir + "/t.sanraw")
        try sink.write(TraceEvent(kind: .enter, function: 23, thread: 1, sequence: 0, timestamp: 5,
                                  fields: [.object(1), .buffers(count: 1, [TraceBuffer(length: 3, registration: 1,
                                                                                       offset: 0, handle: 0)])]))
        try sink.flush(CaptureStats())
        try sink.write(TraceEvent(kind: .leave, function: 23, thread: 1, sequence: 1, timestamp: 6, fields: [.int(-1)]))
        try sink.flush(CaptureStats())
        var bytes = FileManagerShim.read(dir + "/t.sanraw")
        let full = try RawTraceCodec.decode(bytes)
        #expect(full.events.count == 2 && full.damage == nil)
        bytes.removeLast(3)
        let torn = try RawTraceCodec.decode(bytes)
        #expect(torn.events.count == 1 && torn.damage != nil)
    }
}
