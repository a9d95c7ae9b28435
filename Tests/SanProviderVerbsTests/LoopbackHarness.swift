import CIBVerbs
import CSanABI
import Glibc
import SanCore
@testable import SanProviderVerbs
import Testing

/// A verbs provider instance on a ``LoopbackAdapter``, driven through its SPI entry points the
/// way a switch drives them (event select, nonblocking connect, accept with a condition
/// function), with small helpers that record failures as test issues.
final class LoopbackHarness {
    let adapter = LoopbackAdapter()
    let provider: VerbsProvider

    init() {
        self.provider = VerbsProvider(api: self.adapter.api, environment: { _ in nil })
        var data = WSPDATA()
        var upcalls = TestSwitch.table
        var table = WSPPROC_TABLE()
        let rc = self.provider.startup(version: 0x0202, data: &data, upcalls: &upcalls, procTable: &table)
        #expect(rc == 0, "startup on the loopback adapter")
    }

    struct Pair {
        var listener: SOCKET
        var client: SOCKET
        var server: SOCKET
    }

    static let acceptAll: LPCONDITIONPROC = { _, _, _, _, _, _, _, _ in CF_ACCEPT }
    static let rejectAll: LPCONDITIONPROC = { _, _, _, _, _, _, _, _ in CF_REJECT }

    /// Listener on 127.0.0.1 (ephemeral port), nonblocking connect with FD_CONNECT, FD_ACCEPT,
    /// WSPAccept. Returns the sockets and the FD_CONNECT error code (0 on success).
    func connect(condition: LPCONDITIONPROC = LoopbackHarness.acceptAll) -> (Pair, acceptError: Int32, connectError: Int32)? {
        var err: Int32 = 0
        let p = self.provider
        let ls = p.socket(af: AF_INET, type: Int32(SOCK_STREAM.rawValue), lpErrno: &err)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let size = Int32(MemoryLayout<sockaddr_in>.size)
        var len = size
        let ok = withUnsafeMutablePointer(to: &addr) { a in
            a.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                p.bind(ls, sa, size, lpErrno: &err) == 0 && p.listen(ls, backlog: 4, lpErrno: &err) == 0
                    && p.sockName(ls, sa, &len, lpErrno: &err) == 0
            }
        }
        guard ok else {
            Issue.record("listener set-up failed with \(err)")
            return nil
        }
        let acceptEvent = TestSwitch.event(), connectEvent = TestSwitch.event()
        defer {
            TestSwitch.close(acceptEvent)
            TestSwitch.close(connectEvent)
        }
        #expect(p.eventSelect(ls, event: acceptEvent, mask: FD_ACCEPT, lpErrno: &err) == 0)
        let cs = p.socket(af: AF_INET, type: Int32(SOCK_STREAM.rawValue), lpErrno: &err)
        #expect(p.eventSelect(cs, event: connectEvent, mask: FD_CONNECT, lpErrno: &err) == 0)
        let rc = withUnsafePointer(to: &addr) { a in
            a.withMemoryRebound(to: sockaddr.self, capacity: 1) { p.connect(cs, $0, size, lpErrno: &err) }
        }
        #expect(rc == -1 && err == WSAEWOULDBLOCK, "a connect with FD_CONNECT selected is nonblocking")
        guard TestSwitch.wait(acceptEvent) else {
            Issue.record("no FD_ACCEPT")
            return nil
        }
        var events = WSANETWORKEVENTS()
        #expect(p.enumNetworkEvents(ls, event: acceptEvent, out: &events, lpErrno: &err) == 0)
        #expect(events.lNetworkEvents & FD_ACCEPT != 0)
        var acceptError: Int32 = 0
        var peer = sockaddr_in()
        var peerLength = size
        let ss = withUnsafeMutablePointer(to: &peer) { a in
            a.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                p.accept(ls, addr: $0, addrlen: &peerLength, condition: condition, context: 0, lpErrno: &acceptError)
            }
        }
        if ss != sanInvalidSocket {
            #expect(peer.sin_addr.s_addr == UInt32(0x7F00_0001).bigEndian, "WSPAccept reports the initiator's address")
        }
        guard TestSwitch.wait(connectEvent) else {
            Issue.record("no FD_CONNECT")
            return nil
        }
        #expect(p.enumNetworkEvents(cs, event: connectEvent, out: &events, lpErrno: &err) == 0)
        #expect(events.lNetworkEvents & FD_CONNECT != 0)
        let connectError = withUnsafeBytes(of: &events.iErrorCode) { $0.load(fromByteOffset: Int(FD_CONNECT_BIT) * 4, as: Int32.self) }
        return (Pair(listener: ls, client: cs, server: ss), acceptError, connectError)
    }

    func connectedPair() -> Pair? {
        guard let (pair, acceptError, connectError) = self.connect() else { return nil }
        #expect(acceptError == 0 && connectError == 0 && pair.server != sanInvalidSocket)
        return pair
    }

    func register(_ s: SOCKET, _ b: Buffer, _ flags: Int32) -> UnsafeMutableRawPointer? {
        var err: Int32 = 0
        let h = self.provider.registerMemory(s, b.base, UInt32(b.count), UInt32(flags), &err)
        if h == nil { Issue.record("WSPRegisterMemory failed with \(err)") }
        return h
    }

    func registerRdma(_ s: SOCKET, _ b: Buffer, _ flags: Int32) -> [UInt8] {
        var err: Int32 = 0
        var desc = [UInt8](repeating: 0, count: 64)
        var len = UInt32(desc.count)
        let rc = desc.withUnsafeMutableBytes {
            self.provider.registerRdmaMemory(s, b.base, UInt32(b.count), UInt32(flags), $0.baseAddress, &len, &err)
        }
        #expect(rc == 0, "WSPRegisterRdmaMemory failed with \(err)")
        return Array(desc.prefix(Int(len)))
    }

    /// WSPRdmaWrite / WSPRdmaRead of one registered buffer; returns (rc, errno).
    func rdma(_ s: SOCKET, write: Bool, _ b: Buffer, _ handle: UnsafeMutableRawPointer?, count: Int? = nil,
              descriptor: [UInt8], offset: UInt32, _ ov: Overlapped) -> (Int32, Int32) {
        var err: Int32 = 0
        var bytes: UInt32 = 0
        var buf = WSABUFEX(len: UInt32(count ?? b.count), buf: b.base.assumingMemoryBound(to: CChar.self), handle: handle)
        var desc = descriptor
        let rc = desc.withUnsafeMutableBytes {
            self.provider.rdma(s, &buf, 1, $0.baseAddress, UInt32($0.count), offset, &bytes, ov.pointer, isWrite: write, &err)
        }
        return (rc, err)
    }

    func send(_ s: SOCKET, _ b: Buffer, count: Int? = nil, _ ov: Overlapped) -> (Int32, Int32) {
        var err: Int32 = 0
        var bytes: UInt32 = 0
        var buf = WSABUF(len: UInt32(count ?? b.count), buf: b.base.assumingMemoryBound(to: CChar.self))
        return (self.provider.send(s, &buf, 1, &bytes, ov.pointer, &err), err)
    }

    func recv(_ s: SOCKET, _ b: Buffer, _ ov: Overlapped) -> (Int32, Int32) {
        var err: Int32 = 0
        var bytes: UInt32 = 0
        var flags: UInt32 = 7
        var buf = WSABUF(len: UInt32(b.count), buf: b.base.assumingMemoryBound(to: CChar.self))
        let rc = self.provider.recv(s, &buf, 1, &bytes, &flags, ov.pointer, &err)
        #expect(flags == 0)
        return (rc, err)
    }

    func close(_ s: SOCKET) {
        var err: Int32 = 0
        #expect(self.provider.closeSocket(s, lpErrno: &err) == 0)
    }
}
