import CIBVerbs
import CSanABI
import Glibc
import SanCore
@testable import SanProviderVerbs
import Testing

/// The whole provider — connection exchange over real loopback TCP, QP set-up, registrations,
/// work requests, completion channel and progress thread, close — against the software adapter
/// model of ``LoopbackAdapter`` (tests only; see its limits). Serialized: the upcall log is global.
@Suite(.serialized) struct LoopbackProviderTests {
    @Test func connectFollowsTheQueuePairStateMachine() throws {
        let h = LoopbackHarness()
        let pair = try #require(h.connectedPair())
        let (transitions, qps) = h.adapter.model.withLock { ($0.transitions, $0.queuePairs) }
        #expect(qps.count == 2)
        for (qpn, qp) in qps {
            #expect(transitions.filter { $0.0 == qpn }.map(\.1) == [.initialized, .readyToReceive, .readyToSend])
            let peer = try #require(qps[qp.destination])
            #expect(peer.destination == qpn, "each QP points at the other")
            #expect(qp.sendPSN == peer.receivePSN, "PSNs agree across the exchange")
            #expect(qp.access == VerbsAccessMapping.queuePair.rawValue)
        }
        var value = [CChar](repeating: 0, count: 64)
        var length = Int32(value.count)
        var err: Int32 = 0
        #expect(h.provider.getSockOpt(pair.client, SOL_SOCKET_WSA, VerbsSocketOption.device.rawValue, &value, &length, &err) == 0)
        #expect(value.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } == "loop0")
        var limit: UInt32 = 0
        length = 4
        let rc = withUnsafeMutableBytes(of: &limit) {
            h.provider.getSockOpt(pair.client, SOL_SOCKET_WSA, SO_MAX_RDMA_SIZE, $0.baseAddress!.assumingMemoryBound(to: CChar.self),
                                  &length, &err)
        }
        #expect(rc == 0 && limit == 1 << 30)
    }

    @Test func rdmaWriteMovesTheBytes() throws {
        let h = LoopbackHarness()
        let pair = try #require(h.connectedPair())
        let target = Buffer(4096), source = Buffer(1024)
        source.fillPattern(seed: 3)
        // The size probe (reference §1.4).
        var err: Int32 = 0
        var needed: UInt32 = 0
        #expect(h.provider.registerRdmaMemory(pair.server, target.base, 4096, UInt32(MEM_WRITE), nil, &needed, &err) == -1)
        #expect(err == WSAEFAULT && needed == UInt32(VerbsDescriptor.size))
        let desc = h.registerRdma(pair.server, target, MEM_WRITE)
        let handle = h.register(pair.client, source, MEM_READ)
        let ov = Overlapped(polls: true)
        let (rc, e) = h.rdma(pair.client, write: true, source, handle, descriptor: desc, offset: 100, ov)
        #expect(rc == -1 && e == WSA_IO_PENDING)
        var bytes: UInt32 = 0, flags: UInt32 = 0
        #expect(h.provider.getOverlappedResult(pair.client, ov.pointer, &bytes, 1, &flags, &err) == 1)
        #expect(bytes == 1024)
        #expect(Array(target.bytes[100..<1124]) == source.bytes)
        #expect(target.bytes[0..<100].allSatisfy { $0 == 0 } && target.bytes[1124...].allSatisfy { $0 == 0 })
    }

    @Test func sendAndReceiveInBothCompletionModes() throws {
        let h = LoopbackHarness()
        let pair = try #require(h.connectedPair())
        let sink = Buffer(1000), message = Buffer(300)
        message.fillPattern(seed: 9)
        _ = h.register(pair.server, sink, MEM_WRITE)
        _ = h.register(pair.client, message, MEM_READ)
        TestSwitch.log.withLock { $0.removeAll() }
        let received = Overlapped(polls: false)  // the provider calls WPUCompleteOverlappedRequest
        #expect(h.recv(pair.server, sink, received) == (-1, WSA_IO_PENDING))
        let sent = Overlapped(polls: true)
        #expect(h.send(pair.client, message, sent) == (-1, WSA_IO_PENDING))
        let r = try #require(received.result())
        #expect(r.error == 0 && r.bytes == 300)
        #expect(Array(sink.bytes[0..<300]) == message.bytes)
        let s = try #require(sent.result())
        #expect(s.error == 0 && s.bytes == 300)
        let upcalls = TestSwitch.log.withLock { $0 }
        #expect(upcalls == [.completed(switchSocket: pair.server ^ TestSwitch.tag, overlapped: UInt(bitPattern: received.pointer),
                                       error: 0, bytes: 300)],
                "only the upcall-mode operation is reported by upcall, on the switch's socket handle")
    }

    @Test func rdmaReadIsFencedFromTheNextSend() throws {
        let h = LoopbackHarness()
        let pair = try #require(h.connectedPair())
        let exposed = Buffer(2048), sink = Buffer(512), done = Buffer(8), peerSink = Buffer(64)
        exposed.fillPattern(seed: 1)
        let desc = h.registerRdma(pair.server, exposed, MEM_READ)
        let handle = h.register(pair.client, sink, MEM_WRITE)
        _ = h.register(pair.client, done, MEM_READ)
        _ = h.register(pair.server, peerSink, MEM_WRITE)
        let read = Overlapped(polls: true)
        #expect(h.rdma(pair.client, write: false, sink, handle, descriptor: desc, offset: 1000, read) == (-1, WSA_IO_PENDING))
        let r1 = Overlapped(polls: true), r2 = Overlapped(polls: true)
        #expect(h.recv(pair.server, peerSink, r1).0 == -1 && h.recv(pair.server, peerSink, r2).0 == -1)
        let s1 = Overlapped(polls: true), s2 = Overlapped(polls: true)
        #expect(h.send(pair.client, done, s1).1 == WSA_IO_PENDING && h.send(pair.client, done, s2).1 == WSA_IO_PENDING)
        let result = try #require(read.result())
        #expect(result.error == 0 && result.bytes == 512)
        #expect(sink.bytes == Array(exposed.bytes[1000..<1512]))
        let posted = h.adapter.model.withLock { $0.posted }
        #expect(posted.map(\.1) == [IBV_WR_RDMA_READ.rawValue, IBV_WR_SEND.rawValue, IBV_WR_SEND.rawValue])
        #expect(posted.map { $0.2 & IBV_SEND_FENCE.rawValue != 0 } == [false, true, false],
                "the send after an RDMA read is fenced, the one after it is not")
        #expect(posted.allSatisfy { $0.2 & IBV_SEND_SIGNALED.rawValue != 0 })
        #expect(s1.result()?.error == 0 && s2.result()?.error == 0 && r1.result()?.bytes == 8)
    }

    @Test func descriptorRightsAndBoundsAreCheckedAtTheCall() throws {
        let h = LoopbackHarness()
        let pair = try #require(h.connectedPair())
        let readOnly = Buffer(4096), source = Buffer(1024)
        let desc = h.registerRdma(pair.server, readOnly, MEM_READ)
        let handle = h.register(pair.client, source, MEM_READ)
        #expect(h.rdma(pair.client, write: true, source, handle, descriptor: desc, offset: 0, Overlapped(polls: true))
            == (-1, WSAEFAULT), "a MEM_READ region cannot be written")
        let writable = h.registerRdma(pair.server, Buffer(2048), MEM_WRITE)
        #expect(h.rdma(pair.client, write: true, source, handle, descriptor: writable, offset: 1025, Overlapped(polls: true))
            == (-1, WSAEFAULT), "out of bounds")
        #expect(h.rdma(pair.client, write: true, source, handle, descriptor: Array(writable.prefix(39)), offset: 0,
                       Overlapped(polls: true)) == (-1, WSAEINVAL), "a truncated descriptor")
        #expect(h.rdma(pair.client, write: false, source, handle, descriptor: desc, offset: 0, Overlapped(polls: true))
            == (-1, WSAEFAULT), "a MEM_READ local registration cannot be an RDMA read sink")
        #expect(h.adapter.model.withLock { $0.posted.isEmpty }, "nothing reached the adapter")
    }

    @Test func deregistrationRevokesTheRkey() throws {
        let h = LoopbackHarness()
        let pair = try #require(h.connectedPair())
        let target = Buffer(4096), source = Buffer(256)
        let desc = h.registerRdma(pair.server, target, MEM_WRITE)
        var err: Int32 = 0
        var d = desc
        #expect(d.withUnsafeMutableBytes { h.provider.deregisterRdmaMemory(pair.server, $0.baseAddress, 40, &err) } == 0)
        let rkey = try VerbsDescriptor.decode(desc).get().rkey
        #expect(h.adapter.model.withLock { $0.deregisteredRkeys } == [rkey], "ibv_dereg_mr of exactly that region")
        #expect(d.withUnsafeMutableBytes { h.provider.deregisterRdmaMemory(pair.server, $0.baseAddress, 40, &err) } == -1)
        #expect(err == WSAEINVAL, "a second deregistration is refused")
        // The peer still holds the descriptor: its write now fails remotely and fails the connection.
        let handle = h.register(pair.client, source, MEM_READ)
        let ov = Overlapped(polls: true)
        #expect(h.rdma(pair.client, write: true, source, handle, descriptor: desc, offset: 0, ov) == (-1, WSA_IO_PENDING))
        let r = try #require(ov.result())
        #expect(r.error == WSAECONNABORTED && r.bytes == 0)
        #expect(target.bytes.allSatisfy { $0 == 0 })
        #expect(h.send(pair.client, source, Overlapped(polls: true)) == (-1, WSAECONNABORTED), "the socket is marked failed")
    }

    @Test func closeAbortsPendingOperationsBeforeTheLastUpcall() throws {
        let h = LoopbackHarness()
        let pair = try #require(h.connectedPair())
        let sink = Buffer(128)
        _ = h.register(pair.server, sink, MEM_WRITE)
        let polled = Overlapped(polls: true), upcalled = Overlapped(polls: false)
        #expect(h.recv(pair.server, sink, polled).1 == WSA_IO_PENDING && h.recv(pair.server, sink, upcalled).1 == WSA_IO_PENDING)
        TestSwitch.log.withLock { $0.removeAll() }
        h.close(pair.server)
        #expect(polled.isDone && upcalled.isDone, "close returns after every pending operation completed")
        #expect(polled.result()! == (WSA_OPERATION_ABORTED, 0))
        #expect(upcalled.result()! == (WSA_OPERATION_ABORTED, 0))
        let switchSocket = pair.server ^ TestSwitch.tag
        #expect(TestSwitch.log.withLock { $0 } == [
            .completed(switchSocket: switchSocket, overlapped: UInt(bitPattern: upcalled.pointer),
                       error: UInt32(WSA_OPERATION_ABORTED), bytes: 0),
            .closed(switchSocket: switchSocket),
        ], "WPUCloseSocketHandle is the last upcall")
        #expect(h.adapter.model.withLock { $0.queuePairs.count == 1 && $0.regions.isEmpty && $0.pds.count == 1 },
                "the server's QP, region and PD are gone; the client's QP and PD remain")
    }

    @Test func thePeersCloseFlushesAndResets() throws {
        let h = LoopbackHarness()
        let pair = try #require(h.connectedPair())
        let sink = Buffer(128)
        _ = h.register(pair.client, sink, MEM_READWRITE)
        let pending = Overlapped(polls: true)
        #expect(h.recv(pair.client, sink, pending).1 == WSA_IO_PENDING)
        h.close(pair.server)
        let r = try #require(pending.result(), "the side channel's end reaches the client")
        #expect(r == (WSA_OPERATION_ABORTED, 0))
        #expect(h.send(pair.client, sink, Overlapped(polls: true)) == (-1, WSAECONNRESET))
    }

    @Test func conditionRejectRefusesThePeer() throws {
        let h = LoopbackHarness()
        let (pair, acceptError, connectError) = try #require(h.connect(condition: LoopbackHarness.rejectAll))
        #expect(pair.server == sanInvalidSocket && acceptError == WSAECONNREFUSED)
        #expect(connectError == WSAECONNREFUSED, "the initiator learns of the refusal through FD_CONNECT")
        #expect(h.adapter.model.withLock { $0.queuePairs.isEmpty }, "no queue pair survives a refused connection")
    }

    @Test func localRegistrationsAreCountedAndCached() throws {
        let h = LoopbackHarness()
        let pair = try #require(h.connectedPair())
        let b = Buffer(8192)
        var err: Int32 = 0
        let first = h.register(pair.client, b, MEM_READ), second = h.register(pair.client, b, MEM_READ)
        #expect(first == second, "same range, same access, same socket: one handle")
        #expect(h.adapter.model.withLock { $0.regions.count } == 1)
        #expect(h.provider.deregisterMemory(pair.client, first, &err) == 0)
        #expect(h.provider.deregisterMemory(pair.client, first, &err) == 0)
        #expect(h.provider.deregisterMemory(pair.client, first, &err) == -1 && err == WSAEINVAL)
        #expect(h.adapter.model.withLock { $0.regions.count } == 1, "the region stays cached after the last deregistration")
        _ = h.register(pair.client, b, MEM_READ)
        #expect(h.adapter.model.withLock { $0.regions.count } == 1, "a cache hit registers nothing new")
        #expect(h.provider.cacheCallback(b.base, b.count, &err) == 0)
        #expect(h.adapter.model.withLock { $0.regions.isEmpty }, "the cache callback deregisters what lies in the range")
        #expect(h.send(pair.client, b, count: 10, Overlapped(polls: true)) == (-1, WSAEFAULT), "evicted: no longer registered")
        #expect(h.provider.registerMemory(pair.client, b.base, 16, 0, &err) == nil && err == WSAEINVAL)
        var unconnected: Int32 = 0
        let s = h.provider.socket(af: AF_INET, type: Int32(SOCK_STREAM.rawValue), lpErrno: &unconnected)
        #expect(h.provider.registerMemory(s, b.base, 16, UInt32(MEM_READ), &err) == nil && err == WSAENOTCONN)
    }

    @Test func cleanupClosesEverySocket() throws {
        let h = LoopbackHarness()
        let pair = try #require(h.connectedPair())
        TestSwitch.log.withLock { $0.removeAll() }
        var err: Int32 = 0
        #expect(h.provider.cleanup(lpErrno: &err) == 0)
        let closed = Set(TestSwitch.log.withLock { $0 }.compactMap { u -> SOCKET? in
            if case .closed(let s) = u { return s }
            return nil
        })
        #expect(closed == Set([pair.listener, pair.client, pair.server].map { $0 ^ TestSwitch.tag }))
        #expect(h.adapter.model.withLock { $0.queuePairs.isEmpty && $0.regions.isEmpty })
        #expect(h.provider.cleanup(lpErrno: &err) == -1 && err == WSANOTINITIALISED)
    }
}
