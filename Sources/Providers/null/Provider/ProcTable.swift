import CSanABI
import SanCore
import SanProviderKit

/// The null provider's WSPPROC_TABLE: the 17 required slots, one per line; the 13 the switch
/// never calls stay NULL (reference §3.2).
extension NullProvider {
    static func procTable() -> WSPPROC_TABLE {
        var t = WSPPROC_TABLE()
        t.lpWSPAccept = { s, a, l, c, ctx, e in NullProvider.shared.accept(s, addr: a, addrlen: l, condition: c, context: ctx, lpErrno: e) }
        t.lpWSPBind = { s, _, _, e in NullProvider.shared.bind(s, lpErrno: e) }
        t.lpWSPCleanup = { e in NullProvider.shared.cleanup(lpErrno: e) }
        t.lpWSPCloseSocket = { s, e in NullProvider.shared.closeSocket(s, lpErrno: e) }
        t.lpWSPConnect = { s, _, _, _, _, _, _, e in NullProvider.shared.connect(s, lpErrno: e) }
        t.lpWSPDuplicateSocket = { _, _, _, e in sanFail(e, .operationNotSupported) }
        t.lpWSPEnumNetworkEvents = { s, ev, out, e in NullProvider.shared.enumNetworkEvents(s, event: ev, out: out, lpErrno: e) }
        t.lpWSPEventSelect = { s, ev, mask, e in NullProvider.shared.eventSelect(s, event: ev, mask: mask, lpErrno: e) }
        t.lpWSPGetOverlappedResult = { s, ov, cb, w, f, e in NullProvider.shared.getOverlappedResult(s, ov, cb, w, f, e) }
        t.lpWSPGetSockOpt = { s, level, name, val, len, e in
            guard NullProvider.shared.sockets.lookup(s) != nil else { return sanFail(e, .notSocket) }
            return NullProvider.shared.limits.getSockOpt(level: level, name: name, value: val, length: len, lpErrno: e)
        }
        t.lpWSPGetQOSByName = { _, _, _, e in sanFailBool(e, .operationNotSupported) }
        t.lpWSPIoctl = { s, code, i, il, o, ol, r, _, _, _, e in NullProvider.shared.ioctl(s, code, i, il, o, ol, r, e) }
        t.lpWSPListen = { s, _, e in NullProvider.shared.listen(s, lpErrno: e) }
        t.lpWSPRecv = { s, b, n, bytes, flags, ov, _, _, e in NullProvider.shared.recv(s, b, n, bytes, flags, ov, e) }
        t.lpWSPSend = { s, b, n, bytes, _, ov, _, _, e in NullProvider.shared.send(s, b, n, bytes, ov, e) }
        t.lpWSPSetSockOpt = { s, _, _, _, _, e in
            NullProvider.shared.sockets.lookup(s) != nil ? 0 : sanFail(e, .notSocket)
        }
        t.lpWSPSocket = { af, type, _, _, _, _, e in NullProvider.shared.socket(af: af, type: type, lpErrno: e) }
        return t
    }

    /// WSPStartupEx.
    public func startup(version: UInt16, data: UnsafeMutablePointer<WSPDATA>?,
                        upcalls: UnsafeMutablePointer<WSPUPCALLTABLEEX>?,
                        procTable: UnsafeMutablePointer<WSPPROC_TABLE>?) -> Int32 {
        self.startup.startup(version: version, data: data, upcalls: upcalls, procTable: procTable) { Self.procTable() }
    }
}
