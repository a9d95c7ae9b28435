#if canImport(Glibc)
import Glibc
#endif
import SanCore
import SanSwitch
import Testing

/// Messages: one per posted receive, in order; early messages buffered (Docs/Conformance.md §3).
@Suite struct MessagingConformance {
    static let messages: [[UInt8]] = [Array(repeating: 0xA1, count: 10), Array(1...20), Array(repeating: 0xC3, count: 30)]

    @Test(arguments: Conformance.transports)
    func oneMessagePerReceiveInOrder(_ name: String) throws {
        try Self.exchange(name, sendFirst: false)
    }

    @Test(arguments: Conformance.transports)
    func earlyMessagesAreBufferedUntilReceivesArePosted(_ name: String) throws {
        try Self.exchange(name, sendFirst: true)
    }

    /// Three messages into three 64-byte receives; with `sendFirst`, all three are sent (and given
    /// time to arrive) before the receiver posts anything.
    static func exchange(_ name: String, sendFirst: Bool) throws {
        let p = try Conformance.subject(name).provider
        let pair = try Pair(p)
        let mem = Memory(4096)
        defer {
            pair.close()
            mem.free()
        }
        let rreg = try pair.server.register(mem.slice(0, 3 * 64), access: .write)
        let sreg = try pair.client.register(mem.slice(1024, 3 * 64), access: .read)
        for (i, m) in Self.messages.enumerated() { mem.slice(1024 + 64 * i, m.count).copyBytes(from: m) }
        let recvs = (0..<3).map { _ in SanOperation() }
        let sends = (0..<3).map { _ in SanOperation() }
        func postReceives() throws {
            for i in 0..<3 { try pair.server.recv([rreg.buffer(offset: UInt32(64 * i), length: 64)], operation: recvs[i]) }
        }
        if !sendFirst { try postReceives() }
        for (i, m) in Self.messages.enumerated() {
            try pair.client.send([sreg.buffer(offset: UInt32(64 * i), length: UInt32(m.count))], operation: sends[i])
        }
        if sendFirst {
            usleep(200_000)
            try postReceives()
        }
        for (i, m) in Self.messages.enumerated() {
            let c = try finish(recvs[i])
            #expect(c.error == nil)
            #expect(c.bytes == UInt32(m.count), "receive \(i) holds exactly message \(i)")
            #expect(mem.read(64 * i, m.count) == m, "receive \(i) holds message \(i)'s bytes")
        }
        for s in sends { #expect(try finish(s).error == nil) }
    }
}
