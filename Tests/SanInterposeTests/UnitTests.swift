import CSanTrace
import Foundation
import SanInterpose
import SanTraceFormat
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
        #expect(FileManager.default.createFile(atPath: file, contents: Data()))
        #expect(try ProviderResolver.locate("fake", providerPath: "/nonexistent:" + dir) == file)
        #expect(throws: ProviderResolver.Failure.self) { try ProviderResolver.locate("../x", providerPath: dir) }
        #expect(throws: ProviderResolver.Failure.self) { try ProviderResolver.locate("absent", providerPath: dir) }
    }

    @Test("the schema compiled into the interposer is the store's schema")
    func schemasAgree() {
        for f in 0..<80 where csan_schema_has(UInt32(f)) != 0 {
            let def = Schema.function(FunctionID(UInt16(f)))
            #expect(def?.name == String(cString: csan_schema_name(UInt32(f))))
            guard let def else { continue }
            let upcall = def.group == .upcall
            let lists: [(Int32, [FieldDefinition])] = upcall ? [(CSAN_KIND_LEAVE, def.upcall)]
                : [(CSAN_KIND_ENTER, def.enter), (CSAN_KIND_LEAVE, def.leave)]
            for (kind, fields) in lists {
                let n = Int(csan_schema_field_count(UInt32(f), kind))
                #expect(n == fields.count, "\(def.name) kind \(kind)")
                for i in 0..<min(n, fields.count) {
                    #expect(Int32(fields[i].type.rawValue) == csan_schema_field_type(UInt32(f), kind, Int32(i)))
                    #expect(fields[i].name == String(cString: csan_schema_field_name(UInt32(f), kind, Int32(i))))
                }
            }
            #expect(def.startsOperation == (csan_schema_starts_op(UInt32(f)) != 0))
        }
        #expect(Schema.functions.count == (0..<80).filter { csan_schema_has(UInt32($0)) != 0 }.count)
    }

    @Test("the payload hash of the format is the interposer's xxh64")
    func payloadHashIsXXH64() {
        for n in [0, 1, 3, 4, 7, 8, 31, 32, 33, 100, 4096, 65537] {
            let b = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ n) }
            #expect(b.withUnsafeBytes { payloadHash($0) } == b.withUnsafeBytes { csan_xxh64($0.baseAddress, n, 0) })
        }
    }
}
