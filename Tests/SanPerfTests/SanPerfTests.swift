import Foundation
@testable import SanPerf
import SanSwitch
import SanTestSupport
import Testing

@Suite struct SetupMessageTests {
    @Test func roundTripsEveryField() {
        var m = SetupMessage(kind: .reply)
        m.test = .readLatency
        m.size = 123_456
        m.iterations = 7
        m.txDepth = 64
        m.rawTCP = true
        m.status = 10054
        m.rawPort = 40000
        m.descriptor = Array(0..<40)
        m.text = "ünïcode ok"
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: SetupMessage.capacity, alignment: 8)
        defer { buf.deallocate() }
        let n = m.encode(into: buf)
        #expect(SetupMessage(UnsafeRawBufferPointer(rebasing: buf[..<n])) == m)
        // Truncated or foreign bytes are rejected, never misread.
        #expect(SetupMessage(UnsafeRawBufferPointer(rebasing: buf[..<(n - 1)])) == nil)
        buf.storeBytes(of: UInt32(0xDEADBEEF), as: UInt32.self)
        #expect(SetupMessage(UnsafeRawBufferPointer(rebasing: buf[..<n])) == nil)
    }

    @Test func everyTestHasAWireCode() {
        for t in PerfTest.allCases { #expect(PerfTest(code: t.code) == t) }
        #expect(PerfTest(code: 0) == nil && PerfTest(code: 99) == nil)
    }
}

@Suite struct ConfigTests {
    @Test func rejectsImpossibleParameters() {
        func problem(_ c: PerfConfig) -> String? {
            do throws(PerfError) {
                try c.validate()
                return nil
            } catch { return error.description }
        }
        #expect(problem(PerfConfig(test: .writeBandwidth, size: 0))?.contains("--size") == true)
        #expect(problem(PerfConfig(test: .writeBandwidth, iterations: 0))?.contains("--iters") == true)
        #expect(problem(PerfConfig(test: .writeBandwidth, txDepth: 0))?.contains("--tx-depth") == true)
        #expect(problem(PerfConfig(test: .registrationChurn, rawTCP: true))?.contains("reg_churn") == true)
        #expect(problem(PerfConfig(test: .sendLatency)) == nil)
        #expect(PerfConfig(test: .sendLatency).size == 8 && PerfConfig(test: .writeBandwidth).iterations == 5000)
    }
}

@Suite struct StatisticsTests {
    @Test func percentilesOfKnownValues() throws {
        var r = LatencyRecorder()
        for v in 1...1000 { r.record(UInt64(v) * 1000) }
        let s = try #require(r.summary)
        #expect(s.count == 1000)
        #expect(abs(s.min - 1000) <= 1 && abs(s.max - 1_000_000) <= 1000)
        #expect(abs(s.p50 - 500_000) <= 1000)
        #expect(abs(s.p99 - 990_000) <= 1000)
        #expect(abs(s.average - 500_500) <= 1000)
        var half = LatencyRecorder(divisor: 2)
        half.record(2000)
        #expect(half.summary?.p50 == 1000)
        #expect(LatencyRecorder().summary == nil)
    }

    @Test func bandwidthUnits() {
        let m = PerfMeasurement(bytes: 1 << 30, operations: 1024, seconds: 2, latency: nil)
        #expect(m.mebibytesPerSecond == 512)
        #expect(abs(m.gigabitsPerSecond - 4.294967296) < 1e-9)
        #expect(m.messageRate == 512)
    }
}

/// Whole runs on the null provider (both ends in this process).
@Suite struct LoopbackRunTests {
    static let null = SanProducts.path("libsan_null.so")

    @Test(arguments: PerfTest.allCases, [PerfCompletion.poll, .upcall])
    func runsEveryTestOnNull(_ test: PerfTest, _ completion: PerfCompletion) throws {
        let config = PerfConfig(test: test, size: 4096, iterations: 200, txDepth: 16, provider: Self.null,
                                completion: completion, timeoutSeconds: 10)
        let r = try PerfRunner.run(config)
        #expect(r.side == .client && r.placement == "loopback")
        #expect(r.iterations == 200 && r.size == 4096)
        #expect(!r.dataMoved, "null moves no data: the loopback mailbox carried the setup")
        #expect(r.measurement.seconds > 0)
        if test != .registrationChurn {
            #expect(r.measurement.bytes == 200 * 4096 && r.measurement.operations == 200)
        } else {
            #expect(r.churn.map(\.kind).contains("cache_callback"))
            #expect(r.churn.allSatisfy { $0.count == 200 })
        }
        let lat = try #require(r.measurement.latency)
        #expect(lat.count == 200 && lat.min > 0 && lat.min <= lat.p50 && lat.p50 <= lat.p99 && lat.p99 <= lat.max)
        // The JSON carries the keys the brief promises.
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.json.utf8)) as? [String: Any])
        for key in ["test", "provider", "size", "iters", "bytes", "seconds", "bw_mib_s", "msg_rate", "lat_ns", "side"] {
            #expect(obj[key] != nil, "\(key)")
        }
        let l = try #require(obj["lat_ns"] as? [String: Any])
        for key in ["min", "p50", "avg", "p99", "p999"] { #expect(l[key] is NSNumber, "\(key)") }
        #expect(obj["test"] as? String == test.rawValue)
    }

    @Test func rawTCPBaselineRunsBesideTheProvider() throws {
        let r = try PerfRunner.run(PerfConfig(test: .sendLatency, iterations: 300, provider: Self.null, rawTCP: true))
        let raw = try #require(r.rawTCP)
        #expect(raw.operations == 300 && (raw.latency?.count ?? 0) == 300)
        #expect(r.latencyRatios != nil)
        let bw = try PerfRunner.run(PerfConfig(test: .readBandwidth, size: 65536, iterations: 100, provider: Self.null, rawTCP: true))
        #expect(bw.rawTCP?.bytes == 100 * 65536 && bw.bandwidthRatio != nil)
    }

    @Test func aProviderThatCannotLoadIsAProviderError() {
        do {
            _ = try PerfRunner.run(PerfConfig(test: .sendLatency, provider: "no-such-provider"))
            Issue.record("ran without a provider")
        } catch {
            guard case .provider(let text) = error else {
                Issue.record("expected a provider error, got \(error)")
                return
            }
            #expect(text.contains("no-such-provider"))
        }
    }

    @Test func sizesBeyondTheProvidersLimitsAreBadInput() {
        do {
            _ = try PerfRunner.run(PerfConfig(test: .sendLatency, size: 2 << 20, iterations: 1, provider: Self.null))
            Issue.record("a 2 MiB send ran on a provider whose SO_MAX_MSG_SIZE is 1 MiB")
        } catch {
            guard case .badInput(let text) = error else {
                Issue.record("got \(error)")
                return
            }
            #expect(text.contains("SO_MAX_MSG_SIZE"))
        }
    }
}
