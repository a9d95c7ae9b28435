import CSanABI
import Glibc
import SanCore
import SanProviderTCP
import Testing

/// Issue item 5: RDMA descriptors are capabilities. A raw TCP peer completes a legitimate
/// handshake with a provider listener, sends one bad frame, and the test checks that (a) the
/// connection is aborted (ABORT with the reason naming the refused request, then the end of
/// stream, and the provider side's pending receive is flushed), (b) the target memory around and
/// inside the region is unchanged, and (c) a second, legitimate connection to the same provider
/// still works.
@Suite struct SecurityTests {
    let tcp = LoadedProvider.tcp
    static let fill: UInt8 = 0x5A

    enum Attack: String, CaseIterable, Sendable {
        case badKey, outOfBounds, overflowingOffset, writeWithoutWriteAccess, readWithoutReadAccess
        case revokedDescriptor, otherConnectionsDescriptor, otherConnectionsRegion, oversizedWrite, oversizedSend
        case badDescriptorVersion, reservedBits, unknownType, garbage, unexpectedReadResponse, unexpectedAck
        case truncatedFrame
    }

    /// What the provider's ABORT must say: the reason, and the refused request when there is one.
    struct Verdict {
        let reason: WireError
        var refused: RefusedFrame?
        init(_ reason: WireError, write id: UInt64? = nil, read tag: UInt64? = nil) {
            self.reason = reason
            if let id { self.refused = RefusedFrame(type: .rdmaWrite, id: id) }
            if let tag { self.refused = RefusedFrame(type: .readRequest, id: tag) }
        }
        var frame: Frame { .abort(reason: self.reason.rawValue, refused: self.refused) }
    }

    /// A target region in the middle of three pages, so writes around it are visible.
    final class Target: @unchecked Sendable {
        let memory = TestBuffer(3 * 4096, fill: SecurityTests.fill)
        var descriptor: RdmaDescriptor
        var bytes: [UInt8]
        init(_ tcp: LoadedProvider, _ s: SOCKET, access: Int32) throws {
            self.bytes = try tcp.registerRdma(s, self.memory, access, offset: 4096, length: 4096)
            self.descriptor = try RdmaDescriptor.decode(self.bytes).get()
        }
        var untouched: Bool { self.memory.bytes.allSatisfy { $0 == SecurityTests.fill } }
    }

    @Test(arguments: Attack.allCases)
    func badFrameIsRefusedAndTheConnectionAborted(_ attack: Attack) throws {
        let session = try RawSession(tcp)
        let readOnly = attack == .writeWithoutWriteAccess
        let target = try Target(tcp, session.server, access: readOnly ? MEM_READ : MEM_WRITE)
        // The provider side has a receive pending; the abort must fail it.
        let inbox = TestBuffer(64)
        let pending = TestOverlapped()
        defer { try? tcp.close(session.server) }
        _ = try tcp.register(session.server, inbox, MEM_WRITE)
        #expect(tcp.recv(session.server, [inbox.part(0, 64)], pending) == WSA_IO_PENDING)

        let (frame, expected) = try self.frame(for: attack, target, session)
        session.peer.send(frame)
        if attack == .truncatedFrame { session.peer.vanish(reset: false) }

        // (a) refused and aborted.
        if let expected {
            let (reply, _) = try session.peer.readFrame()
            #expect(reply == expected.frame, "\(attack): provider answered \(reply)")
            #expect(session.peer.sawEnd(), "\(attack): connection not closed")
        }
        // The pending receive is flushed (the verbs mapping: the QP went to the error state);
        // a later call fails with WSAECONNABORTED.
        let r = try #require(tcp.completion(session.server, pending))
        #expect(r.error == (attack == .truncatedFrame ? WSAECONNRESET : WSA_OPERATION_ABORTED), "\(attack): \(WSAError(r.error))")
        if attack != .truncatedFrame {
            #expect(tcp.recv(session.server, [inbox.part(0, 64)], TestOverlapped()) == WSAECONNABORTED)
        }
        // (b) nothing written, inside or around the region.
        #expect(target.untouched, "\(attack): target memory changed")
        // (c) the provider still serves a legitimate connection.
        try Self.legitimateWriteWorks(tcp)
    }

    /// The raw peer speaks the protocol correctly: a valid write lands, a valid read returns the
    /// bytes, a valid send arrives. (Without this the refusals above would prove nothing.)
    @Test func rawPeerWithAValidCapabilityIsServed() throws {
        let session = try RawSession(tcp)
        defer { try? tcp.close(session.server) }
        let target = try Target(tcp, session.server, access: MEM_READWRITE)
        let payload = (0..<100).map { UInt8($0) }
        let write = Frame.rdmaWrite(RdmaRequest(descriptor: target.descriptor, offset: 3996, length: 100))
        session.peer.send(write.bytes + payload)
        session.peer.send(Frame.readRequest(RdmaRequest(descriptor: target.descriptor, offset: 3990, length: 106), tag: 77).bytes)
        let (reply, data) = try session.peer.readFrame()
        #expect(reply == .readResponse(tag: 77, length: 106))
        // The write was acknowledged, before the response (it came first).
        #expect(session.peer.acknowledged == 1)
        #expect(data == [UInt8](repeating: Self.fill, count: 6) + payload)
        #expect(target.memory.bytes(4096 + 3996..<8192) == payload)
        #expect(target.memory.bytes(0..<(4096 + 3996)).allSatisfy { $0 == Self.fill })
        #expect(target.memory.bytes(8192..<12288).allSatisfy { $0 == Self.fill })
        // A message.
        let inbox = TestBuffer(16)
        _ = try tcp.register(session.server, inbox, MEM_WRITE)
        let ov = TestOverlapped()
        #expect(tcp.recv(session.server, [inbox.part(0, 16)], ov) == WSA_IO_PENDING)
        session.peer.send(Frame.send(length: 5).bytes + [1, 2, 3, 4, 5])
        let r = try #require(tcp.completion(session.server, ov))
        #expect(r.error == 0 && r.bytes == 5 && inbox.bytes(0..<5) == [1, 2, 3, 4, 5])
    }

    /// Deregistration revokes at once: the next write with the old descriptor is refused.
    @Test func deregisteredDescriptorIsDeadImmediately() throws {
        let session = try RawSession(tcp)
        defer { try? tcp.close(session.server) }
        let target = try Target(tcp, session.server, access: MEM_WRITE)
        session.peer.send(Frame.rdmaWrite(RdmaRequest(descriptor: target.descriptor, offset: 0, length: 4)).bytes + [9, 9, 9, 9])
        // Round trip: a read of a second, readable region proves the write was processed.
        let probe = try Target(tcp, session.server, access: MEM_READ)
        session.peer.send(Frame.readRequest(RdmaRequest(descriptor: probe.descriptor, offset: 0, length: 1), tag: 1).bytes)
        _ = try session.peer.readFrame()
        #expect(session.peer.acknowledged == 1)
        #expect(target.memory.bytes(4096..<4100) == [9, 9, 9, 9])
        try tcp.deregisterRdma(session.server, target.bytes)
        target.memory.fill(Self.fill)
        session.peer.send(Frame.rdmaWrite(RdmaRequest(descriptor: target.descriptor, offset: 0, length: 4)).bytes + [7, 7, 7, 7])
        let (reply, _) = try session.peer.readFrame()
        #expect(reply == .abort(reason: WireError.unknownRegion.rawValue, refused: RefusedFrame(type: .rdmaWrite, id: 2)))
        #expect(target.untouched)
    }

    private func frame(for attack: Attack, _ target: Target, _ session: RawSession) throws -> ([UInt8], Verdict?) {
        var d = target.descriptor
        let write = { (d: RdmaDescriptor, offset: UInt64, length: UInt32) -> [UInt8] in
            Frame.rdmaWrite(RdmaRequest(descriptor: d, offset: offset, length: length)).bytes
                + [UInt8](repeating: 0xEE, count: Int(min(length, 64)))
        }
        switch attack {
        case .badKey:
            d.key.low ^= 1
            return (write(d, 0, 16), Verdict(.badKey, write: 1))
        case .outOfBounds:
            return (write(d, 4000, 200), Verdict(.outOfBounds, write: 1))
        case .overflowingOffset:
            return (write(d, UInt64.max - 8, 64), Verdict(.outOfBounds, write: 1))
        case .writeWithoutWriteAccess:
            return (write(d, 0, 16), Verdict(.accessDenied, write: 1))
        case .readWithoutReadAccess:
            return (Frame.readRequest(RdmaRequest(descriptor: d, offset: 0, length: 16), tag: 5).bytes,
                    Verdict(.accessDenied, read: 5))
        case .revokedDescriptor:
            try tcp.deregisterRdma(session.server, target.bytes)
            return (write(d, 0, 16), Verdict(.unknownRegion, write: 1))
        case .otherConnectionsDescriptor, .otherConnectionsRegion:
            let other = try tcp.pair()
            defer { other.close() }
            let foreign = try Target(tcp, other.server, access: MEM_WRITE)
            var fd = foreign.descriptor
            if attack == .otherConnectionsRegion { fd.connection = session.peer.connectionId }
            #expect(foreign.untouched)
            return (write(fd, 0, 16), Verdict(attack == .otherConnectionsRegion ? .unknownRegion : .wrongConnection, write: 1))
        case .oversizedWrite:
            return (Frame.rdmaWrite(RdmaRequest(descriptor: d, offset: 0, length: (1 << 30) + 1)).bytes,
                    Verdict(.tooLong, write: 1))
        case .oversizedSend:
            return (Frame.send(length: (1 << 20) + 1).bytes, Verdict(.tooLong))
        case .badDescriptorVersion:
            var bytes = write(d, 0, 16)
            bytes[Frame.headerSize + 4] = 2
            return (bytes, Verdict(.badDescriptor))
        case .reservedBits:
            var bytes = write(d, 0, 16)
            bytes[1] = 0x80
            return (bytes, Verdict(.malformed))
        case .unknownType:
            return ([0x77] + [UInt8](repeating: 0, count: 15), Verdict(.unknownType))
        case .garbage:
            var rng = SystemRandomNumberGenerator()
            return ([0xFF] + (0..<200).map { _ in UInt8.random(in: 0...255, using: &rng) }, Verdict(.unknownType))
        case .unexpectedReadResponse:
            return (Frame.readResponse(tag: 0xDEAD, length: 8).bytes + [UInt8](repeating: 1, count: 8),
                    Verdict(.unexpectedResponse))
        case .unexpectedAck:
            // The provider sent no RDMA write: an acknowledgement of one is a lie.
            return (Frame.ack(placed: 1).bytes, Verdict(.unexpectedAck))
        case .truncatedFrame:
            return (Array(write(d, 0, 16).prefix(40)), nil)
        }
    }

    static func legitimateWriteWorks(_ tcp: LoadedProvider) throws {
        let p = try tcp.pair()
        defer { p.close() }
        let target = TestBuffer(4096), source = TestBuffer(pattern: 4096, seed: 3)
        let desc = try tcp.registerRdma(p.server, target, MEM_WRITE)
        let h = try tcp.register(p.client, source, MEM_READ)
        let ov = TestOverlapped()
        #expect(tcp.rdma(write: true, p.client, [(source.base, 4096, h)], desc, offset: 0, ov) == WSA_IO_PENDING)
        try RdmaTests.doneMessage(tcp, p)
        #expect(target.bytes == source.bytes)
    }
}
