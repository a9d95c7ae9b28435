import CSanABI
import SanCore
import SanProviderKit

/// The tcp provider's WSPPROC_TABLE: the 17 required slots plus WSPGetSockName and
/// WSPGetPeerName, one per line; the rest stay NULL (reference §3.2). WSPDuplicateSocket answers
/// WSAEOPNOTSUPP (connections are not shared between processes) and WSPGetQOSByName answers
/// WSAEOPNOTSUPP (no QoS).
extension TCPProvider {
    static func procTable() -> WSPPROC_TABLE {
        var t = WSPPROC_TABLE()
        t.lpWSPAccept = { s, a, l, c, ctx, e in TCPProvider.shared.accept(s, addr: a, addrlen: l, condition: c, context: ctx, lpErrno: e) }
        t.lpWSPBind = { s, name, len, e in TCPProvider.shared.bind(s, name, len, lpErrno: e) }
        t.lpWSPCleanup = { e in TCPProvider.shared.cleanup(lpErrno: e) }
        t.lpWSPCloseSocket = { s, e in TCPProvider.shared.closeSocket(s, lpErrno: e) }
        t.lpWSPConnect = { s, name, len, _, _, _, _, e in TCPProvider.shared.connect(s, name, len, lpErrno: e) }
        t.lpWSPDuplicateSocket = { _, _, _, e in sanFail(e, .operationNotSupported) }
        t.lpWSPEnumNetworkEvents = { s, ev, out, e in TCPProvider.shared.enumNetworkEvents(s, event: ev, out: out, lpErrno: e) }
        t.lpWSPEventSelect = { s, ev, mask, e in TCPProvider.shared.eventSelect(s, event: ev, mask: mask, lpErrno: e) }
        t.lpWSPGetOverlappedResult = { s, ov, cb, w, f, e in TCPProvider.shared.getOverlappedResult(s, ov, cb, w, f, e) }
        t.lpWSPGetPeerName = { s, name, len, e in TCPProvider.shared.name(s, peer: true, name, len, lpErrno: e) }
        t.lpWSPGetSockName = { s, name, len, e in TCPProvider.shared.name(s, peer: false, name, len, lpErrno: e) }
        t.lpWSPGetSockOpt = { s, level, name, val, len, e in TCPProvider.shared.getSockOpt(s, level: level, name: name, value: val, length: len, lpErrno: e) }
        t.lpWSPGetQOSByName = { _, _, _, e in sanFailBool(e, .operationNotSupported) }
        t.lpWSPIoctl = { s, code, i, il, o, ol, r, _, _, _, e in TCPProvider.shared.ioctl(s, code, i, il, o, ol, r, e) }
        t.lpWSPListen = { s, backlog, e in TCPProvider.shared.listen(s, backlog: backlog, lpErrno: e) }
        t.lpWSPRecv = { s, b, n, bytes, flags, ov, _, _, e in TCPProvider.shared.recv(s, b, n, bytes, flags, ov, e) }
        t.lpWSPSend = { s, b, n, bytes, _, ov, _, _, e in TCPProvider.shared.send(s, b, n, bytes, ov, e) }
        t.lpWSPSetSockOpt = { s, level, name, val, len, e in TCPProvider.shared.setSockOpt(s, level: level, name: name, value: val, length: len, lpErrno: e) }
        t.lpWSPSocket = { af, type, _, _, _, _, e in TCPProvider.shared.socket(af: af, type: type, lpErrno: e) }
        return t
    }

    /// WSPStartupEx: the Kit's checks and reference count; the first start launches the
    /// progress thread.
    public func startup(version: UInt16, data: UnsafeMutablePointer<WSPDATA>?,
                        upcalls: UnsafeMutablePointer<WSPUPCALLTABLEEX>?,
                        procTable: UnsafeMutablePointer<WSPPROC_TABLE>?) -> Int32 {
        let rc = self.startup.startup(version: version, data: data, upcalls: upcalls, procTable: procTable) {
            Self.procTable()
        }
        if rc == 0 { self.progress.start() }
        return rc
    }
}
