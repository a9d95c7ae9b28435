import Testing

@testable import SanTraceFormat

@Suite struct VarintTests {
    @Test func zigzagRoundTrips() {
        for v: Int64 in [0, -1, 1, -2, 2, 63, -64, 64, Int64.max, Int64.min, 1 << 40, -(1 << 40)] {
            #expect(zigzagDecode(zigzagEncode(v)) == v)
        }
        #expect(zigzagEncode(0) == 0)
        #expect(zigzagEncode(-1) == 1)
        #expect(zigzagEncode(1) == 2)
        #expect(zigzagEncode(-2) == 3)
    }

    @Test("payloadHash is XXH64 with seed 0 (reference vectors)")
    func payloadHashVectors() {
        func h(_ s: String) -> UInt64 { Array(s.utf8).withUnsafeBytes { payloadHash($0) } }
        #expect(h("") == 0xEF46_DB37_51D8_E999)
        #expect(h("abc") == 0x44BC_2CF5_AD77_0999)
        #expect(h("Nobody inspects the spammish repetition") == 0xFBCE_A83C_8A37_8BF1)
    }

    @Test func varintBytesAreLEB128() {
        let b = ByteBuffer()
        b.putVarint(300)
        #expect(b.toArray() == [0xAC, 0x02])
        b.clear()
        b.putVarint(UInt64.max)
        #expect(b.toArray() == [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
        #expect(varintSize(0) == 1 && varintSize(127) == 1 && varintSize(128) == 2 && varintSize(UInt64.max) == 10)
    }
}

@Suite struct SchemaTests {
    @Test func generatedTablesMatchTheABI() {
        #expect(Schema.functions.filter { $0.group == .proc }.count == 30)
        #expect(Schema.functions.filter { $0.group == .upcall }.count == 16)
        #expect(FunctionID.WSPRdmaWrite.rawValue == 37)
        #expect(FunctionID(name: "RdmaWrite") == .WSPRdmaWrite)
        #expect(FunctionID(name: "wsprecv") == .WSPRecv)
        #expect(FunctionID(name: "37") == .WSPRdmaWrite)
        #expect(FunctionID(name: "nonsense") == nil)
        #expect(FieldIndex.WSPRdmaWrite.enter.ov == 6)
        #expect(Schema.flagNames(3, table: .access) == "MEM_READ|MEM_WRITE")
        #expect(Schema.flagNames(0x1_0000_0001, table: .socketFlags) == "WSA_FLAG_OVERLAPPED|0x100000000")
        #expect(Schema.flagNames(0xC800_0006, table: .ioctl) == "SIO_GET_EXTENSION_FUNCTION_POINTER")
        // Every proc-table function id is its slot.
        for (i, f) in Schema.functions.filter({ $0.group == .proc }).enumerated() { #expect(Int(f.id) == i) }
    }
}

@Suite struct SegmentCodecTests {
    /// The writer indexes events from what the field writer captured while encoding: it must be
    /// exactly what decoding the record gives, for every field type, including a record whose
    /// length prefix had to widen (fields moved) and lists whose bytes end at the next field.
    @Test func captureWhileEncodingEqualsDecoding() throws {
        let b = SegmentBuilder()
        b.reset(firstSequence: 0)
        var n: UInt64 = 0
        func check(_ kind: EventKind, _ fn: FunctionID, _ body: (inout EventFieldWriter) -> Void) throws {
            try b.append(kind, fn, thread: 3, threadSeq: n + 1, tsc: 1000 + n, fields: body)
            var captured = EventRecord(), decoded = EventRecord()
            b.captureLast(into: &captured, kind, fn, thread: 3, threadSeq: n + 1, tsc: 1000 + n, sequence: n)
            b.decodeLast(into: &decoded, kind, fn, thread: 3, threadSeq: n + 1, tsc: 1000 + n, sequence: n)
            #expect(captured.fieldCount == decoded.fieldCount && captured.fieldCount > 0)
            for i in 0..<decoded.fieldCount {
                #expect(captured.value(i) == decoded.value(i), "\(kind) \(fn) field \(i)")
                #expect(captured.bytes(i).map(Array.init) == decoded.bytes(i).map(Array.init))
            }
            n += 1
        }
        try check(.enter, .WSPRdmaWrite) { w in
            w.socket(3); w.bufferListEx(count: 2)
            w.buffer(length: 65536, registration: 4, offset: 128, handle: 4)
            w.buffer(length: 1, registration: 0, offset: 0x7FFF_0000_1234, handle: 0)
            w.rdmaDescriptor(9); w.u32(65537); w.u32(0); w.u32(1); w.overlapped(12); w.completionMode(2)
            w.payloadHashes(count: 2); w.payloadHash(0xDEAD_BEEF); w.payloadHash(.max)
        }
        try check(.leave, .WSPRdmaWrite) { w in w.i32(-1); w.wsaError(997); w.u32(0) }
        try check(.lookup, .none) { w in w.guid([UInt8](0..<16)); w.u32(37); w.wsaError(-3) }
        try check(.completion, .none) { w in
            w.overlapped(12); w.callRef(thread: 2, sequence: 7); w.u32(37); w.socket(3); w.wsaError(10054)
            w.u32(65537); w.flags(0x8000); w.completionVia(1); w.payloadFull(count: 1); w.payloadChunk([1, 2, 3])
        }
        // 300 bytes of fields: the one-byte length prefix widens and every field moves by one.
        try check(.leave, .WSPGetSockOpt) { w in w.i32(0); w.wsaError(0); w.bytes([UInt8](repeating: 7, count: 300)) }
        try check(.enter, .WSPConnect) { w in w.socket(1); w.sockaddr([2, 0, 1, 2, 127, 0, 0, 1]) }
        try check(.enter, .WSPRegisterMemory) { w in
            w.socket(1); w.address(registration: 0, offset: 0xDEAD_0000); w.u32(4096); w.flags(3)
        }
        try check(.leave, .WSPRegisterRdmaMemory) { w in
            w.i32(0); w.wsaError(0); w.u32(24); w.rdmaDescriptor(2); w.descriptorBytes([UInt8](0..<24))
        }
        try check(.enter, .WSPRecv) { w in
            w.socket(1); w.bufferList(count: 0); w.flags(0); w.overlapped(0); w.completionMode(0)
        }
        try check(.leave, .WSPGetOverlappedResult) { w in w.bool(true); w.wsaError(0); w.u32(9); w.flags(0) }
        try check(.upcall, .WPUCreateSocketHandle) { w in w.u32(1); w.socket(2); w.switchSocket(3); w.wsaError(0) }
        try check(.enter, .WSPMemoryRegistrationCacheCallback) { w in
            w.address(registration: 1, offset: 5); w.u64(.max)
        }
    }

    /// Every field type, written and read back through a segment body.
    @Test func everyFieldTypeRoundTrips() throws {
        let b = SegmentBuilder()
        b.reset(firstSequence: 100)
        let guid = [UInt8](0..<16)
        try b.append(.enter, .WSPRdmaWrite, thread: 2, threadSeq: 7, tsc: 5_000) { w in
            w.socket(3)
            w.bufferListEx(count: 2)
            w.buffer(length: 65536, registration: 4, offset: 128, handle: 4)
            w.buffer(length: 1, registration: 0, offset: 0x7FFF_0000_1234, handle: 0)
            w.rdmaDescriptor(9); w.u32(65537); w.u32(0); w.u32(1); w.overlapped(12); w.completionMode(2)
            w.payloadHashes(count: 2); w.payloadHash(0xDEAD_BEEF); w.payloadHash(.max)
        }
        try b.append(.leave, .WSPRdmaWrite, thread: 2, threadSeq: 8, tsc: 4_000) { w in
            w.i32(-1); w.wsaError(997); w.u32(0)
        }
        try b.append(.lookup, .none, thread: 1, threadSeq: 1, tsc: 9_000_000) { w in
            w.guid(guid); w.u32(37); w.wsaError(0)
        }
        try b.append(.completion, .none, thread: 2, threadSeq: 9, tsc: 9_000_100) { w in
            w.overlapped(12); w.callRef(thread: 2, sequence: 7); w.u32(37); w.socket(3); w.wsaError(10054)
            w.u32(65537); w.flags(0x8000); w.completionVia(1); w.payloadFull(count: 1); w.payloadChunk([1, 2, 3])
        }
        try b.append(.leave, .WSPGetSockOpt, thread: 2, threadSeq: 10, tsc: 9_000_200) { w in
            w.i32(0); w.wsaError(0); w.bytes([UInt8](repeating: 7, count: 5000))  // cut to 4096
        }
        let body = ByteBuffer()
        b.finish(segment: 4, into: body)
        var d = try SegmentDecoder(body: body.bytes)
        #expect(d.header.segment == 4 && d.header.firstSequence == 100 && d.header.eventCount == 5)
        var r = EventRecord()
        #expect(try d.next(into: &r))
        #expect(r.sequence == 100 && r.kind == .enter && r.function == .WSPRdmaWrite && r.thread == 2 && r.threadSeq == 7)
        #expect(r.tsc == 5_000)
        #expect(r.fieldCount == 9)
        #expect(r.value(0) == 3)
        #expect(r.buffers(1) == [BufferRef(length: 65536, registration: 4, offset: 128, handle: 4),
                                 BufferRef(length: 1, registration: 0, offset: 0x7FFF_0000_1234, handle: 0)])
        #expect(r.bufferTotals(1)! == (2, 65537))
        #expect(r.value(3) == 65537 && r.value(6) == 12 && r.value(7) == 2)
        #expect(r.payload(8) == .hashes([0xDEAD_BEEF, .max]))
        #expect(try d.next(into: &r))
        #expect(r.tsc == 4_000 && r.signed(0) == -1 && r.signed(1) == 997 && r.threadSeq == 8)
        #expect(try d.next(into: &r))
        #expect(r.kind == .lookup && r.function == .none && r.byteArray(0) == guid && r.value(1) == 37)
        #expect(try d.next(into: &r))
        #expect(r.callRef(1)! == (2, 7))
        #expect(r.signed(4) == 10054 && r.payload(8) == .full([[1, 2, 3]]))
        #expect(try d.next(into: &r))
        #expect(r.byteArray(2)?.count == TraceFormat.maxBytesField)
        #expect(try !d.next(into: &r))
    }

    @Test func olderTracesWithFewerFieldsAndNewerWithMoreStillDecode() throws {
        // Hand-made record: WSPCloseSocket LEAVE with three fields (one more than the schema's two),
        // then one with a single field (one fewer).
        let body = ByteBuffer()
        let records: [UInt8] = [
            0x02, 6, 1, 1, 3, 0x00, 0x00, 0x05,  // leave fn 6 thread 1 seq 1, 3 bytes of fields
            0x1A, 6, 1, 0x02,  // leave, same thread, next seq; fields: ret=1 only (zigzag 2)
        ]
        SegmentHeader(eventCount: 2, segment: 0, firstSequence: 0, baseTSC: 10, recordsLength: UInt32(records.count),
                      tscLength: 2).write(to: body)
        body.putBytes(records)
        body.putBytes([0, 2])
        var d = try SegmentDecoder(body: body.bytes)
        var r = EventRecord()
        #expect(try d.next(into: &r))
        #expect(r.fieldCount == 2 && r.signed(0) == 0)
        #expect(try d.next(into: &r))
        #expect(r.fieldCount == 1 && r.signed(0) == 1 && r.threadSeq == 2 && r.tsc == 11)
        #expect(try !d.next(into: &r))
    }

    /// Random bytes and mutated bodies never crash, hang or allocate without bound: they decode
    /// or throw TraceFormatError.
    @Test func hostileBodiesAreRejectedCleanly() throws {
        let b = SegmentBuilder()
        b.reset(firstSequence: 0)
        for i in 0..<200 {
            try b.append(.enter, .WSPSend, thread: UInt32(1 + i % 3), threadSeq: UInt64(1 + i / 3), tsc: UInt64(i * 1000)) { w in
                w.socket(1); w.bufferList(count: 1); w.buffer(length: 64, registration: 2, offset: UInt64(i)); w.flags(0)
                w.overlapped(5); w.completionMode(1); w.payloadNone()
            }
        }
        let good = ByteBuffer()
        b.finish(segment: 0, into: good)
        let original = good.toArray()
        var rng = SystemRandomNumberGenerator()
        var rejected = 0
        for round in 0..<20_000 {
            var bytes = original
            switch round % 4 {
            case 0: bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
            case 1: bytes.removeLast(Int.random(in: 1..<bytes.count, using: &rng))
            case 2:
                for _ in 0..<8 { bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            default:
                bytes = (0..<Int.random(in: 0..<200, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            }
            do {
                try bytes.withUnsafeBytes { raw in
                    var d = try SegmentDecoder(body: raw)
                    var r = EventRecord()
                    var n = 0
                    while try d.next(into: &r) {
                        n += 1
                        precondition(n <= 200_000, "decoder loops")
                        _ = TraceEvent(r)  // the accessors stay in bounds on whatever decoded
                    }
                }
            } catch is TraceFormatError {
                rejected += 1
            }
        }
        #expect(rejected > 10_000)
    }
}
