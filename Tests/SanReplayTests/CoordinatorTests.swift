import Testing

@testable import SanReplay

/// The coordinator protocol: every message survives a round trip, hostile frames are refused
/// with a reason, and a served coordinator relays values (published before or after the wait),
/// aborts and outcomes between clients.
struct CoordinatorTests {
    static let messages: [CoordinatorMessage] = [
        .hello(endpoint: "sanperf-1"), .welcome(status: 0, message: "ok"), .put(key: "listen/0/1", value: [2, 0, 1, 2]),
        .get(request: 0xDEAD_BEEF, key: "desc/1/3"), .value(request: 7, value: Array(repeating: 9, count: 4096)),
        .abort(reason: "result divergence"), .finished(endpoint: "e", diverged: true, summary: "1 divergence(s)"),
    ]

    @Test func roundTrips() throws {
        for m in Self.messages {
            let frame = m.encode()
            let n = Int(frame[0]) | Int(frame[1]) << 8 | Int(frame[2]) << 16 | Int(frame[3]) << 24
            #expect(n == frame.count - 4)
            #expect(try CoordinatorMessage.decode(Array(frame.dropFirst(4))) == m)
        }
    }

    @Test func refusesHostileFrames() {
        let body = Array(CoordinatorMessage.put(key: "k", value: [1, 2, 3]).encode().dropFirst(4))
        // Every truncation is refused, never trapped on.
        for cut in 0..<body.count {
            #expect(throws: CoordinatorMessage.DecodeError.self) { try CoordinatorMessage.decode(Array(body.prefix(cut))) }
        }
        #expect(throws: CoordinatorMessage.DecodeError.malformed("1 trailing bytes")) { try CoordinatorMessage.decode(body + [0]) }
        var v2 = body
        v2[0] = 2
        #expect(throws: CoordinatorMessage.DecodeError.version(2)) { try CoordinatorMessage.decode(v2) }
        var unknown = body
        unknown[1] = 99
        #expect(throws: CoordinatorMessage.DecodeError.malformed("unknown message type 99")) {
            try CoordinatorMessage.decode(unknown)
        }
        // A field length past the 4096-byte limit.
        #expect(throws: CoordinatorMessage.DecodeError.self) {
            try CoordinatorMessage.decode([1, 6, 0x01, 0x10] + Array(repeating: 65, count: 4097))
        }
    }

    @Test func servesValuesAbortsAndOutcomes() throws {
        let server = try CoordinatorServer(address: "127.0.0.1:0", expected: 2, log: { _ in })
        defer { server.shutdown() }
        let address = "127.0.0.1:\(server.port)"
        let a = try RemoteCoordinator(address: address, endpoint: "a", timeoutNs: 5_000_000_000)
        let b = try RemoteCoordinator(address: address, endpoint: "b", timeoutNs: 5_000_000_000)
        a.publish("early", [1, 2, 3])
        #expect(b.wait("early", timeoutNs: 2_000_000_000, stopped: { false }) == [1, 2, 3])
        // A wait that starts before the value is published.
        let waiter = ReplayThread(name: "t") { a.publish("late", [4]) }
        #expect(b.wait("late", timeoutNs: 2_000_000_000, stopped: { false }) == [4])
        waiter.join()
        // A key nobody publishes: nil after the timeout, at once when stopped.
        #expect(b.wait("never", timeoutNs: 100_000_000, stopped: { false }) == nil)
        #expect(b.wait("never2", timeoutNs: 10_000_000_000, stopped: { true }) == nil)
        a.abort(reason: "a diverged")
        var seen: String?
        for _ in 0..<200 where seen == nil {
            seen = b.abortReason
            usleep(5000)
        }
        #expect(seen == "a diverged")
        #expect(a.abortReason == nil)
        a.finished(endpoint: "a", diverged: true, summary: "1 divergence(s)")
        b.finished(endpoint: "b", diverged: false, summary: "no divergence")
        server.waitForAll(timeoutNs: 2_000_000_000)
        #expect(server.outcomes.map(\.0).sorted() == ["a", "b"])
        #expect(a.advertisedHost.flatMap { RecordedAddress($0) }?.isLoopback == true)
    }

    @Test func aClientOfAnotherVersionIsRefused() throws {
        let server = try CoordinatorServer(address: "127.0.0.1:0", expected: 1, log: { _ in })
        defer { server.shutdown() }
        let s = try WireSocket.connect("127.0.0.1:\(server.port)", timeoutNs: 1_000_000_000)
        var frame = CoordinatorMessage.hello(endpoint: "x").encode()
        frame[4] = 9
        _ = frame.withUnsafeBytes { send(s.fd, $0.baseAddress, $0.count, 0) }
        guard case .welcome(let status, let message)? = try s.receive() else {
            Issue.record("no answer")
            return
        }
        #expect(status == 1 && message.contains("version 9 is not supported"))
    }
}

#if canImport(Glibc)
import Glibc
#endif
