import SanCore
import SanProviderTCP
import Testing

/// The device-free logic: frame codec, descriptor format, handshake messages, bounds and the
/// target's request validation.
@Suite struct WireTests {
    static let descriptor = RdmaDescriptor(access: .write, connection: Key128(low: 1, high: 2), region: 0x5200_0001,
                                           length: 4096, key: Key128(low: 0xDEAD_BEEF, high: 0xFEED_FACE))

    @Test func descriptorRoundTripAndLayout() throws {
        let bytes = Self.descriptor.bytes
        #expect(bytes.count == 56)
        #expect(Array(bytes[0..<4]) == Array("STRD".utf8))
        #expect(bytes[4] == 1 && bytes[5] == 2 && bytes[6] == 0 && bytes[7] == 0)
        #expect(bytes[8] == 1 && bytes[16] == 2)  // connection id, little-endian
        #expect(bytes[24] == 0x01 && bytes[27] == 0x52)  // region id
        #expect(bytes[33] == 0x10)  // length 4096
        #expect(try RdmaDescriptor.decode(bytes).get() == Self.descriptor)
    }

    @Test func descriptorRejectsEveryMalformation() {
        let good = Self.descriptor.bytes
        func bad(_ edit: (inout [UInt8]) -> Void) -> Bool {
            var b = good
            edit(&b)
            return (try? RdmaDescriptor.decode(b).get()) == nil
        }
        #expect(bad { $0[0] ^= 1 })  // magic
        #expect(bad { $0[4] = 2 })  // version
        #expect(bad { $0[5] = 0 })  // no access
        #expect(bad { $0[5] = 4 })  // unknown access bit
        #expect(bad { $0[6] = 1 })  // reserved
        #expect(bad { $0[36] = 1 })  // length above 4 GiB - 1
        #expect(bad { $0.removeLast() })  // short
        #expect(bad { $0.append(0) })  // long
        #expect((try? RdmaDescriptor.decode(nil, length: 56).get()) == nil)
    }

    @Test func framesRoundTrip() throws {
        let request = RdmaRequest(descriptor: Self.descriptor, offset: 12, length: 100)
        let frames: [Frame] = [
            .send(length: 0), .send(length: 1 << 20), .rdmaWrite(request), .readRequest(request, tag: 99),
            .readResponse(tag: 99, length: 100), .close, .abort(reason: WireError.badKey.rawValue, refused: nil),
            .abort(reason: WireError.unknownRegion.rawValue, refused: RefusedFrame(type: .rdmaWrite, id: 3)),
            .abort(reason: WireError.accessDenied.rawValue, refused: RefusedFrame(type: .readRequest, id: 1 << 40)),
            .ack(placed: 1), .ack(placed: UInt64.max),
        ]
        for f in frames {
            let bytes = f.bytes
            #expect(bytes.count == f.type.prologueSize)
            #expect(try Frame.decode(bytes).get() == f)
            #expect(try Frame.prologueSize(firstByte: bytes[0]).get() == bytes.count)
        }
        #expect(Frame.maxPrologueSize == 88)
        #expect(Frame.rdmaWrite(request).bytes.count == 80)
        // ACK: the count in the tag field, nothing else; ABORT: the refused type after the reason.
        #expect(Frame.ack(placed: 0x0102).bytes == [7, 0, 0, 0, 0, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0])
        let abort = Frame.abort(reason: 5, refused: RefusedFrame(type: .rdmaWrite, id: 9)).bytes
        #expect(abort.count == 24 && abort[0] == 6 && abort[8] == 9 && abort[16] == 5 && abort[20] == 2)
        #expect(Array(abort[21..<24]) == [0, 0, 0])
    }

    @Test func framesRejectReservedFieldsAndStrayTags() {
        let request = RdmaRequest(descriptor: Self.descriptor, offset: 0, length: 8)
        func rejected(_ f: Frame, _ edit: (inout [UInt8]) -> Void) -> WireError? {
            var b = f.bytes
            edit(&b)
            if case .failure(let e) = Frame.decode(b) { return e }
            return nil
        }
        #expect(rejected(.send(length: 1)) { $0[1] = 1 } == .malformed)  // flags
        #expect(rejected(.send(length: 1)) { $0[3] = 1 } == .malformed)  // reserved
        #expect(rejected(.send(length: 1)) { $0[8] = 1 } == .malformed)  // tag on a send
        #expect(rejected(.close) { $0[4] = 1 } == .malformed)  // data on a close
        #expect(rejected(.readRequest(request, tag: 1)) { $0[4] = 1 } == .malformed)  // data on a request
        #expect(rejected(.readRequest(request, tag: 1)) { $0[87] = 1 } == .malformed)  // reserved after length
        #expect(rejected(.abort(reason: 1, refused: nil)) { $0[23] = 1 } == .malformed)  // reserved after the type
        #expect(rejected(.abort(reason: 1, refused: nil)) { $0[20] = 99 } == .malformed)  // no such frame type
        #expect(rejected(.abort(reason: 1, refused: nil)) { $0[8] = 1 } == .malformed)  // an id without a type
        #expect(rejected(.abort(reason: 1, refused: nil)) { $0[4] = 1 } == .malformed)  // data
        #expect(rejected(.ack(placed: 1)) { $0[4] = 1 } == .malformed)  // data on an ACK
        #expect(rejected(.ack(placed: 1)) { $0[8] = 0 } == .malformed)  // acknowledges nothing
        #expect(rejected(.ack(placed: 1)) { $0[1] = 1 } == .malformed)  // flags
        #expect(rejected(.rdmaWrite(request)) { $0[16] = 0 } == .badDescriptor)  // magic inside
        #expect(rejected(.send(length: 1)) { $0[0] = 0 } == .unknownType)
        #expect(rejected(.send(length: 1)) { $0[0] = 8 } == .unknownType)
        #expect(rejected(.send(length: 1)) { $0.removeLast() } == .malformed)  // truncated prologue
    }

    @Test func handshakeRoundTripAndChecks() throws {
        let m = HandshakeMessage(kind: .hello, nonce: Key128(low: 7, high: 8), maxMessageSize: 65536)
        let bytes = m.bytes
        #expect(bytes.count == 32 && Array(bytes[0..<4]) == Array("SANT".utf8))
        #expect(bytes[4] == 2 && bytes[5] == 0, "version 2")
        #expect(try HandshakeMessage.decode(bytes).get() == m)
        for i in [0, 6, 28] {
            var b = bytes
            b[i] ^= 0x40
            #expect(HandshakeMessage.decode(b) == .failure(.malformed), "byte \(i)")
        }
        // Another version is told apart from garbage, and which one it is can be read.
        var v1 = bytes
        v1[4] = 1
        #expect(HandshakeMessage.decode(v1) == .failure(.unsupportedVersion))
        #expect(HandshakeMessage.peek(v1)! == (1, 1))
        #expect(HandshakeMessage.peek([UInt8](repeating: 0, count: 32)) == nil)
        // A REFUSE says why; no other kind carries a reason.
        let refuse = HandshakeMessage(kind: .refuse, nonce: .zero, maxMessageSize: 1024,
                                      reason: WireError.unsupportedVersion.rawValue)
        #expect(refuse.bytes[28] == 13)
        #expect(try HandshakeMessage.decode(refuse.bytes).get().reason == 13)
        var helloWithReason = bytes
        helloWithReason[28] = 13
        #expect(HandshakeMessage.decode(helloWithReason) == .failure(.malformed))
    }

    @Test func boundsNeverOverflow() {
        #expect(Bounds.fits(offset: 0, count: 4096, within: 4096))
        #expect(Bounds.fits(offset: 4096, count: 0, within: 4096))
        #expect(!Bounds.fits(offset: 4096, count: 1, within: 4096))
        #expect(!Bounds.fits(offset: 4097, count: 0, within: 4096))
        #expect(!Bounds.fits(offset: UInt64.max, count: 2, within: 4096))
        #expect(!Bounds.fits(offset: 2, count: UInt64.max, within: 4096))
        #expect(!Bounds.fits(offset: UInt64.max - 1, count: UInt64.max - 1, within: UInt64.max))
        #expect(Bounds.address(base: 0x1000, length: 100, offset: 10, count: 90) == 0x100A)
        #expect(Bounds.address(base: UInt.max - 10, length: 100, offset: 50, count: 1) == nil)
        #expect(Bounds.contains(base: 0x1000, length: 0x100, address: 0x1000, count: 0x100))
        #expect(!Bounds.contains(base: 0x1000, length: 0x100, address: 0xFFF, count: 2))
        #expect(!Bounds.contains(base: 0x1000, length: 0x100, address: 0x1001, count: UInt.max))
        #expect(!Bounds.contains(base: UInt.max - 4, length: 100, address: UInt.max - 2, count: 1))
    }

    @Test func validatorChecksInOrder() {
        let grant = RegionGrant(base: 0x10000, length: 4096, access: .write, key: Self.descriptor.key)
        let conn = Self.descriptor.connection
        func check(_ r: RdmaRequest, _ g: RegionGrant? = grant, needs: SanAccess = .write, on c: Key128? = nil) -> Result<UInt, WireError> {
            RequestValidator.validate(r, connection: c ?? conn, grant: g, needs: needs, maxLength: 1 << 20)
        }
        var d = Self.descriptor
        #expect(check(RdmaRequest(descriptor: d, offset: 96, length: 4000)) == .success(0x10060))
        #expect(check(RdmaRequest(descriptor: d, offset: 0, length: 1), on: Key128(low: 9, high: 9)) == .failure(.wrongConnection))
        #expect(check(RdmaRequest(descriptor: d, offset: 0, length: 1), nil) == .failure(.unknownRegion))
        #expect(check(RdmaRequest(descriptor: d, offset: 0, length: 1), needs: .read) == .failure(.accessDenied))
        #expect(check(RdmaRequest(descriptor: d, offset: 0, length: (1 << 20) + 1)) == .failure(.tooLong))
        #expect(check(RdmaRequest(descriptor: d, offset: 4000, length: 97)) == .failure(.outOfBounds))
        #expect(check(RdmaRequest(descriptor: d, offset: UInt64.max, length: 1)) == .failure(.outOfBounds))
        d.key.high ^= 1 << 63
        #expect(check(RdmaRequest(descriptor: d, offset: 0, length: 1)) == .failure(.badKey))
        // The descriptor's own access and length claims do not matter: the grant does.
        var liar = Self.descriptor
        liar.access = .readWrite
        liar.length = 1 << 30
        #expect(check(RdmaRequest(descriptor: liar, offset: 8192, length: 1)) == .failure(.outOfBounds))
        #expect(check(RdmaRequest(descriptor: liar, offset: 0, length: 1), needs: .read) == .failure(.accessDenied))
    }

    @Test func keysCompareByValue() {
        let a = Key128(low: 1, high: 2)
        #expect(a == Key128(low: 1, high: 2))
        #expect(a != Key128(low: 1, high: 3))
        #expect(a != Key128(low: 0, high: 2))
        #expect((a ^ a) == .zero)
        let secret = Key128(low: 0x1111_2222_3333_4444, high: 0x5555_6666_7777_8888)
        #expect(!secret.description.contains("11112222") && !secret.description.contains("66667777"))  // never the whole key
    }
}
