import CSanABI
import SanCore
import SanProviderKit

/// The verbs provider's WSPPROC_TABLE: the 17 required slots plus WSPGetSockName and
/// WSPGetPeerName, one per line; the rest stay NULL (reference §3.2).
extension VerbsProvider {
    static func procTable() -> WSPPROC_TABLE {
        var t = WSPPROC_TABLE()
        t.lpWSPAccept = { s, a, l, c, ctx, e in VerbsProvider.shared.accept(s, addr: a, addrlen: l, condition: c, context: ctx, lpErrno: e) }
        t.lpWSPBind = { s, name, len, e in VerbsProvider.shared.bind(s, name, len, lpErrno: e) }
        t.lpWSPCleanup = { e in VerbsProvider.shared.cleanup(lpErrno: e) }
        t.lpWSPCloseSocket = { s, e in VerbsProvider.shared.closeSocket(s, lpErrno: e) }
        t.lpWSPConnect = { s, name, len, _, _, _, _, e in VerbsProvider.shared.connect(s, name, len, lpErrno: e) }
        t.lpWSPDuplicateSocket = { _, _, _, e in sanFail(e, .operationNotSupported) }
        t.lpWSPEnumNetworkEvents = { s, ev, out, e in VerbsProvider.shared.enumNetworkEvents(s, event: ev, out: out, lpErrno: e) }
        t.lpWSPEventSelect = { s, ev, mask, e in VerbsProvider.shared.eventSelect(s, event: ev, mask: mask, lpErrno: e) }
        t.lpWSPGetOverlappedResult = { s, ov, cb, w, f, e in VerbsProvider.shared.getOverlappedResult(s, ov, cb, w, f, e) }
        t.lpWSPGetPeerName = { s, name, len, e in VerbsProvider.shared.peerName(s, name, len, lpErrno: e) }
        t.lpWSPGetSockName = { s, name, len, e in VerbsProvider.shared.sockName(s, name, len, lpErrno: e) }
        t.lpWSPGetSockOpt = { s, level, name, val, len, e in VerbsProvider.shared.getSockOpt(s, level, name, val, len, e) }
        t.lpWSPGetQOSByName = { _, _, _, e in sanFailBool(e, .operationNotSupported) }
        t.lpWSPIoctl = { s, code, i, il, o, ol, r, _, _, _, e in VerbsProvider.shared.ioctl(s, code, i, il, o, ol, r, e) }
        t.lpWSPListen = { s, backlog, e in VerbsProvider.shared.listen(s, backlog: backlog, lpErrno: e) }
        t.lpWSPRecv = { s, b, n, bytes, flags, ov, _, _, e in VerbsProvider.shared.recv(s, b, n, bytes, flags, ov, e) }
        t.lpWSPSend = { s, b, n, bytes, _, ov, _, _, e in VerbsProvider.shared.send(s, b, n, bytes, ov, e) }
        t.lpWSPSetSockOpt = { s, level, name, val, len, e in VerbsProvider.shared.setSockOpt(s, level, name, val, len, e) }
        t.lpWSPSocket = { af, type, _, _, _, _, e in VerbsProvider.shared.socket(af: af, type: type, lpErrno: e) }
        return t
    }

    /// WSPStartupEx. Without a usable RDMA port it fails with WSASYSNOTREADY and says why in one
    /// line on stderr; nothing else is touched (the proc table stays as the caller left it).
    public func startup(version: UInt16, data: UnsafeMutablePointer<WSPDATA>?,
                        upcalls: UnsafeMutablePointer<WSPUPCALLTABLEEX>?,
                        procTable: UnsafeMutablePointer<WSPPROC_TABLE>?) -> Int32 {
        guard data != nil, upcalls != nil, procTable != nil else { return WSAError.fault.rawValue }
        let major = version & 0xff, minor = version >> 8
        guard major > 2 || (major == 2 && minor >= 2) else { return WSAError.versionNotSupported.rawValue }
        if case .failure(let reason) = self.prepare() {
            VerbsLog.line("\(reason); WSPStartupEx fails with WSASYSNOTREADY (see README, \"verbs provider\")")
            return WSAError.systemNotReady.rawValue
        }
        return self.startup.startup(version: version, data: data, upcalls: upcalls, procTable: procTable) { Self.procTable() }
    }
}
