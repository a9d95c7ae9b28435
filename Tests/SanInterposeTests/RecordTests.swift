import Foundation
import SanRecord
import SanSwitch
import SanTestSupport
import Testing

@Suite("sanreplay record, the library")
struct RecordTests {
    @Test("the environment attaches the interposer (layer or preload) and keeps the caller's variables")
    func environment() throws {
        let plan = try RecordPlan(command: ["sanperf"], directory: "/tmp/run", payload: "hash", attach: .layer,
                                  interposer: "/opt/x/lib/libsantrace.so", provider: "/opt/x/lib/libsan_tcp.so",
                                  runID: "abc")
        let env = Dictionary(plan.environment(["PATH=/bin", "SANTRACE_FLUSH_MS=5", "SAN_PROVIDER_PATH=/p",
                                               "SANTRACE_DIR=/elsewhere", "X=a=b"]).map { kv -> (String, String) in
            let i = kv.firstIndex(of: "=")!
            return (String(kv[..<i]), String(kv[kv.index(after: i)...]))
        }, uniquingKeysWith: { _, b in b })
        #expect(env["SAN_LAYER"] == "/opt/x/lib/libsantrace.so")
        #expect(env["LD_PRELOAD"] == nil)
        #expect(env["SANTRACE_DIR"] == "/tmp/run")
        #expect(env["SANTRACE_PAYLOAD"] == "hash")
        #expect(env["SANTRACE_PROVIDER"] == "/opt/x/lib/libsan_tcp.so")
        #expect(env["SANTRACE_RUN_ID"] == "abc")
        #expect(env["SANTRACE_FLUSH_MS"] == "5" && env["PATH"] == "/bin" && env["X"] == "a=b")
        #expect(env["SAN_PROVIDER_PATH"] == "/p:/opt/x/lib")

        var preload = plan
        preload.attach = .preload
        preload.provider = nil
        let penv = preload.environment(["LD_PRELOAD=libother.so"])
        #expect(penv.contains("LD_PRELOAD=/opt/x/lib/libsantrace.so libother.so"))
        #expect(!penv.contains { $0.hasPrefix("SAN_LAYER=") || $0.hasPrefix("SANTRACE_PROVIDER=") })
    }

    @Test("bad plans are refused with the reason")
    func badPlans() {
        #expect(throws: RecordError.usage("no command to record (sanreplay record -- CMD [ARGS…])")) {
            try RecordPlan(command: [], directory: "d", interposer: "/x.so")
        }
        #expect(throws: RecordError.usage("--payload all: expected none, hash or full")) {
            try RecordPlan(command: ["x"], directory: "d", payload: "all", interposer: "/x.so")
        }
        let relative = try? RecordPlan(command: ["x"], directory: "run", interposer: "/x.so")
        #expect(relative?.directory.hasPrefix("/") == true && relative?.directory.hasSuffix("/run") == true)
    }

    @Test("libsantrace.so and providers are found next to the executable or in ../lib")
    func products() throws {
        let products = SanProducts.directory
        #expect(try RecordProducts.interposer(executableDirectory: products).hasSuffix("/libsantrace.so"))
        #expect(try RecordProducts.provider("null", executableDirectory: products).hasSuffix("/libsan_null.so"))
        // The tools/build layout: bin/ next to lib/.
        let root = NSTemporaryDirectory() + "record-layout-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/bin", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/lib", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: root + "/lib/libsantrace.so", contents: Data())
        _ = FileManager.default.createFile(atPath: root + "/lib/libsan_tcp.so", contents: Data())
        #expect(try RecordProducts.interposer(executableDirectory: root + "/bin") == root + "/lib/libsantrace.so")
        #expect(try RecordProducts.provider("tcp", executableDirectory: root + "/bin", providerPath: nil)
            == root + "/lib/libsan_tcp.so")
        // SAN_PROVIDER_PATH comes first, as in the switch: a recording loads what an untraced run would.
        try FileManager.default.createDirectory(atPath: root + "/alt", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: root + "/alt/libsan_tcp.so", contents: Data())
        #expect(try RecordProducts.provider("tcp", executableDirectory: root + "/bin", providerPath: root + "/alt")
            == root + "/alt/libsan_tcp.so")
        #expect(ProviderLocator.searchPath(executableDirectory: root + "/bin", providerPath: root + "/alt")
            == [root + "/alt", root + "/bin", root + "/bin/../lib"])
        #expect(throws: RecordError.self) { try RecordProducts.interposer(executableDirectory: root) }
        #expect(throws: RecordError.self) { try RecordProducts.provider("../x", executableDirectory: root + "/bin") }
        #expect(throws: RecordError.self) { try RecordProducts.provider("nosuch", executableDirectory: root + "/bin",
                                                                        providerPath: nil) }
    }

    @Test("the command's status comes back as a shell reports it")
    func launch() throws {
        #expect(try Launcher.run(["sh", "-c", "exit 3"], environment: ["PATH=/usr/bin:/bin"]) { _ in } == 3)
        #expect(try Launcher.run(["sh", "-c", "kill -9 $$"], environment: ["PATH=/usr/bin:/bin"]) { _ in } == 137)
        #expect(throws: RecordError.self) { try Launcher.run(["/no/such/binary"], environment: []) { _ in } }
        // (Forwarding SIGINT/SIGTERM is checked end to end by Tests/Integration/test_32: a signal
        // sent to this multi-threaded test process would end it.)
    }
}
