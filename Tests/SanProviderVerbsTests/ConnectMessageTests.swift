@testable import SanProviderVerbs
import Testing

/// The connection-exchange message: versioned, bounds-checked, refused whole when wrong.
@Suite struct ConnectMessageTests {
    let endpoint = VerbsEndpoint(queuePairNumber: 0x00AB_CDEF, packetSequenceNumber: 0x12_3456, lid: 0x0102,
                                 gid: Array(0..<16), mtu: 5, linkLayer: .ethernet, initiatorDepth: 4, responderResources: 3)

    @Test func layoutIsNetworkOrder() {
        let b = VerbsConnectMessage(kind: .request, endpoint: self.endpoint).encoded()
        #expect(b.count == 48)
        #expect(Array(b[0..<8]) == [0x53, 0x56, 0x43, 0x4D, 1, 1, 0, 48])
        #expect(Array(b[8..<12]) == [0, 0xAB, 0xCD, 0xEF])
        #expect(Array(b[12..<16]) == [0, 0x12, 0x34, 0x56])
        #expect(Array(b[16..<20]) == [0x01, 0x02, 5, 2])
        #expect(Array(b[20..<36]) == Array(0..<16))
        #expect(Array(b[36..<48]) == [4, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    }

    @Test func roundTripOfEveryKind() {
        let messages = [
            VerbsConnectMessage(kind: .request, endpoint: self.endpoint),
            VerbsConnectMessage(kind: .accept, endpoint: self.endpoint),
            VerbsConnectMessage.reject(10061),
            VerbsConnectMessage(kind: .ready),
        ]
        for m in messages {
            #expect(VerbsConnectMessage.decode(m.encoded()) == .success(m), "\(m.kind)")
        }
        guard case .success(let back) = VerbsConnectMessage.decode(messages[0].encoded()) else { return }
        #expect(back.endpoint == self.endpoint)
    }

    @Test func headerGivesTheLength() {
        let b = VerbsConnectMessage(kind: .ready).encoded()
        #expect(VerbsConnectMessage.messageLength(header: Array(b.prefix(8))) == .success(48))
        #expect(VerbsConnectMessage.messageLength(header: Array(b.prefix(7))) == .failure(.truncated(7)))
        var h = Array(b.prefix(8))
        h[6] = 0x01; h[7] = 0x01  // 257
        #expect(VerbsConnectMessage.messageLength(header: h) == .failure(.badLength(257)))
        h[6] = 0; h[7] = 47
        #expect(VerbsConnectMessage.messageLength(header: h) == .failure(.badLength(47)))
        h = Array(b.prefix(8))
        h[4] = 2
        #expect(VerbsConnectMessage.messageLength(header: h) == .failure(.unsupportedVersion(2)))
        h = Array(b.prefix(8))
        h[0] = 0
        #expect(VerbsConnectMessage.messageLength(header: h) == .failure(.badMagic(0x0056_434D)))
    }

    /// A longer version-1 message (a later minor addition) still decodes; its tail is ignored.
    @Test func longerMessagesOfTheSameVersionDecode() {
        var b = VerbsConnectMessage(kind: .accept, endpoint: self.endpoint).encoded()
        b[7] = 64
        b += Array(repeating: 0xEE, count: 16)
        guard case .success(let m) = VerbsConnectMessage.decode(b) else {
            Issue.record("a 64-byte version-1 message was refused")
            return
        }
        #expect(m.endpoint == self.endpoint)
        #expect(VerbsConnectMessage.decode(Array(b.prefix(60))) == .failure(.truncated(60)))
    }

    @Test func everyTruncationIsRefused() {
        let b = VerbsConnectMessage(kind: .request, endpoint: self.endpoint).encoded()
        for n in 0..<b.count {
            guard case .failure = VerbsConnectMessage.decode(Array(b.prefix(n))) else {
                Issue.record("accepted \(n) of \(b.count) bytes")
                continue
            }
        }
    }

    @Test func fieldsAreCheckedPerKind() {
        func encoded(_ change: (inout VerbsConnectMessage) -> Void) -> [UInt8] {
            var m = VerbsConnectMessage(kind: .request, endpoint: self.endpoint)
            change(&m)
            return m.encoded()
        }
        #expect(VerbsConnectMessage.decode(encoded { $0.queuePairNumber = 0 }) == .failure(.badField("QP number")))
        #expect(VerbsConnectMessage.decode(encoded { $0.queuePairNumber = 0x100_0000 }) == .failure(.badField("QP number")))
        #expect(VerbsConnectMessage.decode(encoded { $0.packetSequenceNumber = 0x100_0000 }) == .failure(.badField("PSN")))
        #expect(VerbsConnectMessage.decode(encoded { $0.mtu = 0 }) == .failure(.badField("MTU")))
        #expect(VerbsConnectMessage.decode(encoded { $0.mtu = 6 }) == .failure(.badField("MTU")))
        #expect(VerbsConnectMessage.decode(encoded { $0.status = 5 }) == .failure(.badField("status")))
        var b = encoded { _ in }
        b[19] = 3
        #expect(VerbsConnectMessage.decode(b) == .failure(.badField("link layer")))
        b = encoded { _ in }
        b[5] = 9
        #expect(VerbsConnectMessage.decode(b) == .failure(.badKind(9)))
        #expect(VerbsConnectMessage.decode(VerbsConnectMessage.reject(0).encoded()) == .failure(.badField("status")))
    }

    /// Random bytes (deterministic generator) never crash the decoder, and only well-formed
    /// headers get past the first check.
    @Test func garbageIsRefusedWithoutCrashing() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt8 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
        var accepted = 0
        for _ in 0..<2000 {
            let n = Int(next()) % 80
            var b = (0..<n).map { _ in next() }
            if n >= 8 && next() & 1 == 0 { b.replaceSubrange(0..<6, with: [0x53, 0x56, 0x43, 0x4D, 1, next() % 5]) }
            if case .success = VerbsConnectMessage.decode(b) { accepted += 1 }
        }
        #expect(accepted < 50)
    }
}
