import CSanTrace
import Foundation
@testable import SanInterpose
import SanTraceFormat
import SanTraceStore
import Testing

/// Raw records as the hot path writes them (csan_trace.h, "Raw record layout"), built by hand.
private struct RawBuilder {
    var words: [UInt64] = []

    /// Header: size, kind, function, flags; sequence; tsc. Then the fields, one u64 each for
    /// scalars; `list` and `blob` helpers for the compound ones.
    mutating func record(_ kind: Int32, _ function: UInt8, seq: UInt64, tsc: UInt64, _ fields: [UInt64]) -> RawRecordBytes {
        let size = UInt64(24 + fields.count * 8)
        var w: [UInt64] = [size | UInt64(kind) << 32 | UInt64(function) << 40, seq, tsc]
        w += fields
        return RawRecordBytes(words: w)
    }
}

private struct RawRecordBytes {
    var words: [UInt64]
    func with<T>(_ body: (RawRecord) throws -> T) rethrows -> T {
        try self.words.withUnsafeBytes { try body(RawRecord(base: $0.baseAddress!)) }
    }
}

/// Fields of common records.
private enum Raw {
    static let send: UInt8 = 23, socket: UInt8 = 28, getOverlappedResult: UInt8 = 11
    /// WSPSend ENTER: s, buffers (count 1, stored 1, len, addr), flags, ov, mode, payload (none).
    static func sendEnter(s: UInt64, ov: UInt64, length: UInt64 = 64) -> [UInt64] {
        [s, 1, 1, length, 0x1000, 0, ov, ov == 0 ? 0 : 1, 0, 0]
    }
    /// A LEAVE with ret, err, bytes.
    static func leave(ret: Int64, err: UInt64, bytes: UInt64) -> [UInt64] { [UInt64(bitPattern: ret), err, bytes] }
    /// COMPLETION: ov, status, bytes, flags, via, payload (none).
    static func completion(ov: UInt64, bytes: UInt64, via: Int32) -> [UInt64] { [ov, 0, bytes, 0, UInt64(via), 0, 0] }
}

@Suite("Converter: raw records to trace events")
struct ConverterTests {
    private func withWriter(_ body: (TraceWriter) throws -> Void) throws -> [TraceEvent] {
        let path = Harness.tempDirectory() + "/c.santrace"
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let w = try TraceWriter(path: path, metadata: TraceMetadata(clock: .nanoseconds))
        try body(w)
        try w.close()
        #expect(try TraceVerifier.verify(path: path).isIntact)
        return try TraceReader(path: path).events()
    }

    @Test("a completion drained before its ENTER is held once, then linked; a repeated poll is no event")
    func deferredCompletion() throws {
        var b = RawBuilder()
        var c = Converter()
        let events = try withWriter { w in
            // Thread 2 (a progress thread) reports the completion before thread 1's ENTER is seen.
            let done = b.record(CSAN_KIND_COMPLETION, 0, seq: 0, tsc: 300, Raw.completion(ov: 0xA0, bytes: 64, via: CSAN_VIA_POLL))
            let o1 = try done.with { try c.convert($0, thread: 2, final: false, secondChance: false, into: w) }; #expect(o1 == .deferred)
            let enter = b.record(CSAN_KIND_ENTER, Raw.send, seq: 0, tsc: 100, Raw.sendEnter(s: 0x77, ov: 0xA0))
            let o2 = try enter.with { try c.convert($0, thread: 1, final: false, secondChance: false, into: w) }; #expect(o2 == .written)
            let o3 = try done.with { try c.convert($0, thread: 2, final: false, secondChance: true, into: w) }; #expect(o3 == .written)
            // The same finished operation polled again on thread 2: dropped, thread 2 stays gapless.
            let again = b.record(CSAN_KIND_COMPLETION, 0, seq: 1, tsc: 400, Raw.completion(ov: 0xA0, bytes: 64, via: CSAN_VIA_POLL))
            let o4 = try again.with { try c.convert($0, thread: 2, final: false, secondChance: false, into: w) }; #expect(o4 == .deferred)
            let o5 = try again.with { try c.convert($0, thread: 2, final: false, secondChance: true, into: w) }; #expect(o5 == .dropped)
            let next = b.record(CSAN_KIND_ENTER, Raw.send, seq: 2, tsc: 500, Raw.sendEnter(s: 0x77, ov: 0xB0))
            let o6 = try next.with { try c.convert($0, thread: 2, final: false, secondChance: false, into: w) }; #expect(o6 == .written)
        }
        #expect(events.count == 3)
        let enter = try #require(events.first { $0.kind == .enter && $0.thread == 1 })
        let done = try #require(events.first { $0.kind == .completion })
        #expect(done["start"] == .callRef(thread: 1, sequence: enter.threadSeq))
        #expect(done["function"] == .uint(UInt64(FunctionID.WSPSend.rawValue)))
        #expect(done["s"] == enter["s"])
        // Thread 2's sequences: 1 (the completion), 2 (the next ENTER: the dropped poll left no gap).
        #expect(events.filter { $0.thread == 2 }.map(\.threadSeq) == [1, 2])
        #expect(c.repeatedPolls == 1 && c.deferrals == 2 && c.unlinkedCompletions == 0)
    }

    @Test("a synchronous call that succeeded gets an inline COMPLETION right after its LEAVE")
    func inlineCompletion() throws {
        var b = RawBuilder()
        var c = Converter()
        let events = try withWriter { w in
            for (i, r) in [b.record(CSAN_KIND_ENTER, Raw.send, seq: 0, tsc: 10, Raw.sendEnter(s: 5, ov: 0, length: 100)),
                           b.record(CSAN_KIND_LEAVE, Raw.send, seq: 1, tsc: 20, Raw.leave(ret: 0, err: 0, bytes: 100)),
                           b.record(CSAN_KIND_ENTER, Raw.send, seq: 2, tsc: 30, Raw.sendEnter(s: 5, ov: 0)),
                           b.record(CSAN_KIND_LEAVE, Raw.send, seq: 3, tsc: 40, Raw.leave(ret: -1, err: 10038, bytes: 0))]
                .enumerated() {
                _ = i
                let o7 = try r.with { try c.convert($0, thread: 1, final: false, secondChance: false, into: w) }; #expect(o7 == .written)
            }
        }
        #expect(events.map(\.kind) == [.enter, .leave, .completion, .enter, .leave])  // no completion for the failure
        #expect(events.map(\.threadSeq) == [1, 2, 3, 4, 5])
        #expect(events[2]["via"] == .uint(3) && events[2]["bytes"] == .uint(100))
        #expect(events[2]["start"] == .callRef(thread: 1, sequence: 1))
    }

    @Test("an object used on one thread before its creation on another is drained gets the creation's id")
    func useBeforeCreation() throws {
        var b = RawBuilder()
        var c = Converter()
        let events = try withWriter { w in
            // Thread 2 sends on socket 0x99 (drained first), thread 1's WSPSocket LEAVE created it.
            let use = b.record(CSAN_KIND_ENTER, Raw.send, seq: 0, tsc: 50, Raw.sendEnter(s: 0x99, ov: 0))
            _ = try use.with { try c.convert($0, thread: 2, final: false, secondChance: false, into: w) }
            let enter = b.record(CSAN_KIND_ENTER, Raw.socket, seq: 0, tsc: 10, [2, 1, 6, 1])
            let leave = b.record(CSAN_KIND_LEAVE, Raw.socket, seq: 1, tsc: 20, [0x99, 0])
            _ = try enter.with { try c.convert($0, thread: 1, final: false, secondChance: false, into: w) }
            _ = try leave.with { try c.convert($0, thread: 1, final: false, secondChance: false, into: w) }
            // A second socket that reuses the value after a close is a new object.
            let close = b.record(CSAN_KIND_ENTER, 6, seq: 2, tsc: 60, [0x99])
            let closed = b.record(CSAN_KIND_LEAVE, 6, seq: 3, tsc: 70, [0, 0])
            let enter2 = b.record(CSAN_KIND_ENTER, Raw.socket, seq: 4, tsc: 80, [2, 1, 6, 1])
            let leave2 = b.record(CSAN_KIND_LEAVE, Raw.socket, seq: 5, tsc: 90, [0x99, 0])
            for r in [close, closed, enter2, leave2] {
                _ = try r.with { try c.convert($0, thread: 1, final: false, secondChance: false, into: w) }
            }
        }
        let created = events.filter { $0.kind == .leave && $0.function == .WSPSocket }.map { $0["ret"] }
        let used = try #require(events.first { $0.kind == .enter && $0.function == .WSPSend })
        #expect(created.count == 2 && created[0] == used["s"] && created[1] != created[0])
    }

    @Test("a record cut short is refused and nothing of it is written")
    func malformed() throws {
        var b = RawBuilder()
        var c = Converter()
        let events = try withWriter { w in
            var r = b.record(CSAN_KIND_ENTER, Raw.send, seq: 0, tsc: 10, Raw.sendEnter(s: 5, ov: 0))
            r.words[0] = 24 + 3 * 8 | UInt64(CSAN_KIND_ENTER) << 32 | UInt64(Raw.send) << 40  // claims 3 fields only
            var failed = false
            do { _ = try r.with { try c.convert($0, thread: 1, final: false, secondChance: false, into: w) } } catch { failed = true }
            #expect(failed)
            let ok = b.record(CSAN_KIND_LEAVE, Raw.send, seq: 1, tsc: 20, Raw.leave(ret: -1, err: 10038, bytes: 0))
            let o8 = try ok.with { try c.convert($0, thread: 1, final: false, secondChance: false, into: w) }; #expect(o8 == .written)
        }
        #expect(events.count == 1 && events[0].kind == .leave)
    }
}

@Suite("Capture-id maps")
struct CaptureMapTests {
    @Test("RawMap agrees with Dictionary through 20 000 random inserts, look-ups and removals")
    func rawMapMatchesDictionary() {
        var m = RawMap<UInt64>(filler: 0, capacity: 4)
        var d: [UInt64: UInt64] = [:]
        var g = SystemRandomNumberGenerator()
        for i in 0..<20_000 {
            // Few distinct keys (collisions, removals inside probe runs) and key 0 now and then.
            let k = UInt64.random(in: 0..<512, using: &g) &* 0x1_0000_0040
            switch i % 3 {
            case 0: m.set(k, UInt64(i)); d[k] = UInt64(i)
            case 1: #expect(m.remove(k) == d.removeValue(forKey: k))
            default: #expect(m.get(k) == d[k])
            }
            #expect(m.count == d.count)
        }
        for (k, v) in d { #expect(m.get(k) == v) }
    }

    @Test("registrations: addresses inside a registration become (id, offset), the newest covering one wins")
    func registrations() {
        var r = Registrations()
        let a = r.register(handle: 0x10, address: 0x1000, length: 0x100)
        let b = r.register(handle: 0x20, address: 0x1080, length: 0x100)
        #expect(r.locate(0x1010) == (a, 0x10))
        #expect(r.locate(0x1090) == (b, 0x10))  // covered by both: the newer
        #expect(r.locate(0x5000) == (0, 0x5000))
        #expect(r.register(handle: 0x10, address: 0x1000, length: 0x100) == a)  // same handle: a reference
        r.deregister(handle: 0x10)
        #expect(r.locate(0x1010) == (a, 0x10))  // one reference left
        r.deregister(handle: 0x10)
        #expect(r.locate(0x1010) == (0, 0x1010))
        #expect(r.id(handle: 0x20) == b && r.id(handle: 0x30) != b)
    }
}
