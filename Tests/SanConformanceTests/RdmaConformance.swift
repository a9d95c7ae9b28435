#if canImport(Glibc)
import Glibc
#endif
import CSanABI
import SanCore
import SanSwitch
import Testing

/// One-sided RDMA against a peer process, offsets, several WSABUFEX entries, the "done" ordering,
/// the peer's access rights and revocation (Docs/Conformance.md §4).
@Suite struct RdmaConformance {
    @Test(arguments: Conformance.transports, Mode.allCases)
    func oneSidedWriteAndReadWithOffsetsAndSeveralBuffers(_ name: String, _ mode: Mode) throws {
        let s = try Conformance.subject(name)
        let (peer, c) = try connectToPeer(s)
        let mem = Memory(8192)
        defer {
            try? c.close()
            mem.free()
        }
        let desc = SanRdmaDescriptor(bytes: Hex.decode(try peer.run("reg-rdma 8192 3 0")))
        for i in 0..<300 { mem.bytes[i] = UInt8(truncatingIfNeeded: i * 7 + 1) }
        let local = try c.register(mem.bytes, access: .readWrite)
        // Write [0,100) and [200,300) of ours to the peer's offset 1000; the peer calls nothing.
        let (w, _) = operation(mode)
        try c.rdmaWrite([local.buffer(offset: 0, length: 100), local.buffer(offset: 200, length: 100)], to: desc,
                        offset: 1000, operation: w)
        #expect(try finish(w) == SanCompletion(bytes: 200))
        let expected = [UInt8](repeating: 0, count: 10) + mem.read(0, 100) + mem.read(200, 100) + [UInt8](repeating: 0, count: 10)
        #expect(try Self.peerShows(peer, "dump 990 220", expected),
                "the write landed at the offset, the two buffers back to back, nothing else touched")
        // Read the same 200 bytes back into two local buffers.
        guard s.provider.extensions.rdmaRead != nil else {
            #expect(s.provider.lookups[.rdmaRead] == .some(.operationNotSupported))
            return
        }
        let (r, _) = operation(mode)
        try c.rdmaRead([local.buffer(offset: 4096, length: 120), local.buffer(offset: 6000, length: 80)], from: desc,
                       offset: 1000, operation: r)
        #expect(try finish(r) == SanCompletion(bytes: 200))
        #expect(mem.read(4096, 120) + mem.read(6000, 80) == mem.read(0, 100) + mem.read(200, 100))
    }

    @Test(arguments: Conformance.transports)
    func aSendAfterAWriteArrivesAfterTheWrittenBytes(_ name: String) throws {
        let p = try Conformance.subject(name).provider
        let pair = try Pair(p)
        let size = 1 << 20
        let target = Memory(size), source = Memory(size + 64)
        defer {
            pair.close()
            target.free()
            source.free()
        }
        for i in stride(from: 0, to: size, by: 4096) { source.bytes[i] = UInt8(truncatingIfNeeded: i >> 12 | 1) }
        source.bytes[size - 1] = 0x5D
        let desc = try pair.server.registerRdma(target.bytes, access: .write)
        let note = try pair.server.register(source.slice(size, 64), access: .write)
        let src = try pair.client.register(source.bytes, access: .read)
        let recv = SanOperation(), write = SanOperation(), send = SanOperation()
        try pair.server.recv([note.buffer(length: 8)], operation: recv)
        try pair.client.rdmaWrite([src.buffer(length: UInt32(size))], to: desc, operation: write)
        try pair.client.send([src.buffer(length: 8)], operation: send)
        #expect(try finish(recv).error == nil)
        // The moment the note arrives, the whole write is in place.
        #expect(target.bytes[size - 1] == 0x5D)
        #expect(Array(target.bytes) == Array(source.slice(0, size)))
        #expect(try finish(write).error == nil)
        #expect(try finish(send).error == nil)
    }

    @Test(arguments: Conformance.transports)
    func writingAReadOnlyRegionFailsAndAbortsTheConnection(_ name: String) throws {
        try Self.violation(name, peerAccess: 1, write: true)
    }

    @Test(arguments: Conformance.transports)
    func readingAWriteOnlyRegionFailsAndAbortsTheConnection(_ name: String) throws {
        let s = try Conformance.subject(name)
        guard s.provider.extensions.rdmaRead != nil else {
            // Optional: its absence must be announced as WSAEOPNOTSUPP (checked again here).
            #expect(s.provider.lookups[.rdmaRead] == .some(.operationNotSupported))
            return
        }
        try Self.violation(name, peerAccess: 2, write: false)
    }

    /// An RDMA operation the peer's registration does not allow: it must not succeed, the peer's
    /// memory stays as it was, and the connection is aborted (a later send fails).
    static func violation(_ name: String, peerAccess: Int, write: Bool) throws {
        let s = try Conformance.subject(name)
        let (peer, c) = try connectToPeer(s)
        let mem = Memory(4096, fill: 0x77)
        defer {
            try? c.close()
            mem.free()
        }
        let desc = SanRdmaDescriptor(bytes: Hex.decode(try peer.run("reg-rdma 4096 \(peerAccess) 17")))
        let local = try c.register(mem.bytes, access: .readWrite)
        let op = SanOperation()
        let failure = try Self.refusal {
            if write {
                try c.rdmaWrite([local.buffer(length: 100)], to: desc, operation: op)
            } else {
                try c.rdmaRead([local.buffer(length: 100)], from: desc, operation: op)
            }
        } completion: { try finish(op) }
        #expect(failure.failed, "an RDMA \(write ? "write to a MEM_READ" : "read from a MEM_WRITE")-only region must fail")
        #expect(failure.completedWithRemoteAccessError,
                "a refused operation that started completes with WSAECONNABORTED (reference §4.7), not \(failure)")
        #expect(Hex.decode(try peer.run("dump 0 4096")) == [UInt8](repeating: 17, count: 4096), "the peer's memory is unchanged")
        if !write { #expect(mem.read(0, 100) == [UInt8](repeating: 0x77, count: 100), "nothing was read") }
        let aborted = try Self.sendFails(c, local)
        #expect(aborted, "after an access violation the connection is aborted: later operations fail")
    }

    /// Polls the peer's answer to `command` for up to 2 s until it shows `expected` bytes: a
    /// provider may complete an RDMA operation before the target applied it, and the suite
    /// checks placement, not that timing.
    static func peerShows(_ peer: PeerProcess, _ command: String, _ expected: [UInt8]) throws -> Bool {
        let deadline = monotonicNow() + 2_000_000_000
        while true {
            if Hex.decode(try peer.run(command)) == expected { return true }
            if monotonicNow() > deadline { return false }
            usleep(2000)
        }
    }

    @Test(arguments: Conformance.transports)
    func deregistrationRevokesThePeersAccess(_ name: String) throws {
        let s = try Conformance.subject(name)
        let (peer, c) = try connectToPeer(s)
        let mem = Memory(4096, fill: 0x42)
        defer {
            try? c.close()
            mem.free()
        }
        let desc = SanRdmaDescriptor(bytes: Hex.decode(try peer.run("reg-rdma 4096 2 0")))
        let local = try c.register(mem.bytes, access: .readWrite)
        let first = SanOperation()
        try c.rdmaWrite([local.buffer(length: 64)], to: desc, operation: first)
        #expect(try finish(first) == SanCompletion(bytes: 64), "allowed while registered")
        #expect(try Self.peerShows(peer, "dump 0 64", [UInt8](repeating: 0x42, count: 64)), "and it landed")
        try peer.run("dereg-rdma")
        mem.slice(0, 64).initializeMemory(as: UInt8.self, repeating: 0x99)
        let second = SanOperation()
        let failure = try Self.refusal {
            try c.rdmaWrite([local.buffer(length: 64)], to: desc, operation: second)
        } completion: { try finish(second) }
        #expect(failure.failed, "a write through a deregistered descriptor must fail")
        #expect(failure.completedWithRemoteAccessError,
                "a refused write that started completes with WSAECONNABORTED (reference §4.7), not \(failure)")
        #expect(Hex.decode(try peer.run("dump 0 64")) == [UInt8](repeating: 0x42, count: 64),
                "the revoked write did not land")
        #expect(try Self.sendFails(c, local), "after a remote access error the connection is aborted: later operations fail")
    }

    /// How an operation the target must refuse ended.
    enum Refusal: CustomStringConvertible {
        /// The call itself failed (the provider saw the violation first).
        case atCall(WSAError?)
        /// It started and completed with this error (nil: it succeeded).
        case inCompletion(WSAError?)

        var failed: Bool {
            switch self {
            case .atCall: return true
            case .inCompletion(let e): return e != nil
            }
        }

        /// A call-time failure is any error; a completion must carry the remote access error.
        var completedWithRemoteAccessError: Bool {
            if case .inCompletion(let e) = self { return e == nil || e == .connectionAborted }
            return true
        }

        var description: String {
            switch self {
            case .atCall(let e): return "the call failed with \(e.map { "\($0)" } ?? "an error")"
            case .inCompletion(let e): return "it completed with \(e.map { "\($0)" } ?? "success")"
            }
        }
    }

    static func refusal(_ start: () throws -> Void, completion: () throws -> SanCompletion) throws -> Refusal {
        do { try start() } catch let e as SanSwitchError { return .atCall(e.wsaError) }
        return .inCompletion(try completion().error)
    }

    /// True when a send on `c` fails to start or completes with an error within 10 s.
    static func sendFails(_ c: SanSocket, _ reg: SanMemoryRegistration) throws -> Bool {
        let op = SanOperation()
        do { try c.send([reg.buffer(length: 8)], operation: op) } catch { return true }
        guard let r = try? finish(op) else { return false }
        return r.error != nil
    }
}
