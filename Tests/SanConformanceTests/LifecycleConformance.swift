#if canImport(Glibc)
import Glibc
#endif
import CSanABI
import SanCore
import SanSwitch
import Testing

/// Socket life cycle, connection set-up and the condition function (Docs/Conformance.md §2).
@Suite struct LifecycleConformance {
    @Test(arguments: Conformance.providers)
    func socketLifeCycle(_ name: String) throws {
        let p = try Conformance.subject(name).provider
        SanUpcallRegistry.shared.enableLog()
        let s = try SanSocket(provider: p)
        let handle = try #require(s.switchHandle, "WSPSocket must call WPUCreateSocketHandle on the caller's thread")
        // Unconnected: no registration.
        let mem = Memory(4096)
        defer { mem.free() }
        #expect(throws: SanSwitchError.call(function: "WSPRegisterMemory", error: .notConnected)) {
            _ = try s.register(mem.bytes, access: .readWrite)
        }
        try s.bind(.loopback(port: p.has(.getSockName) ? 0 : freeTCPPort()))
        try s.listen()
        try s.close()
        let log = SanUpcallRegistry.shared.log(for: handle).map(\.name)
        #expect(log.first == "WPUCreateSocketHandle")
        #expect(log.last == "WPUCloseSocketHandle", "WPUCloseSocketHandle is the last upcall for a socket: \(log)")
        #expect(throws: SanSwitchError.call(function: "WSPCloseSocket", error: .notSocket)) { try s.close() }
        #expect(throws: SanSwitchError.call(function: "WSPListen", error: .notSocket)) { try s.listen() }
    }

    @Test(arguments: Conformance.providers)
    func nonblockingConnectReportsFDConnect(_ name: String) throws {
        let p = try Conformance.subject(name).provider
        let (l, address) = try makeListener(p)
        defer { try? l.close() }
        let acceptor = Background { try? l.accept(timeoutMilliseconds: 10_000).0 }
        let c = try SanSocket(provider: p)
        defer { try? c.close() }
        let ev = SanEvent()
        defer { ev.close() }
        try c.eventSelect(ev, FD_CONNECT)
        var err: Int32 = 0
        let rc = address.withSockaddr { p.procs.lpWSPConnect!(c.value, $0, $1, nil, nil, nil, nil, &err) }
        #expect(rc == 0 || err == WSAEWOULDBLOCK, "WSPConnect after FD_CONNECT selection: 0 or WSAEWOULDBLOCK, got \(WSAError(err))")
        if rc != 0 {
            #expect(ev.wait(timeoutMilliseconds: 10_000), "FD_CONNECT must set the selected event")
            let (events, errors) = try c.enumNetworkEvents(ev)
            #expect(events & FD_CONNECT != 0)
            #expect(errors[Int(FD_CONNECT_BIT)] == 0)
            #expect(!ev.isSet, "WSPEnumNetworkEvents resets the event it is given")
        }
        let server = acceptor.join()
        #expect(server != nil, "the listener accepted the connection")
        try? server?.close()
    }

    @Test(arguments: Conformance.providers)
    func conditionFunctionRunsOnTheAcceptingThread(_ name: String) throws {
        let p = try Conformance.subject(name).provider
        let (l, address) = try makeListener(p)
        defer { try? l.close() }
        let acceptor = Background { () -> (accepting: UInt, condition: [UInt], peer: SanAddress?, socket: SanSocket?) in
            let me = UInt(pthread_self())
            var seen: [UInt] = []
            var peer: SanAddress? = nil
            let s = try? l.accept(timeoutMilliseconds: 10_000) { caller in
                seen.append(UInt(pthread_self()))
                peer = caller
                return true
            }.0
            return (me, seen, peer, s)
        }
        let c = try SanSocket(provider: p)
        defer { try? c.close() }
        try c.connect(to: address)
        let r = acceptor.join()
        defer { try? r.socket?.close() }
        #expect(r.socket != nil)
        #expect(r.condition == [r.accepting], "the condition function runs once, on the thread that called WSPAccept")
        #expect(r.peer?.family == AF_INET, "the condition function gets the caller's address")
    }

    @Test(arguments: Conformance.transports)
    func rejectedConnectionIsRefused(_ name: String) throws {
        let p = try Conformance.subject(name).provider
        let (l, address) = try makeListener(p)
        defer { try? l.close() }
        let acceptor = Background { () -> SanSwitchError? in
            do throws(SanSwitchError) {
                let s = try l.accept(timeoutMilliseconds: 10_000) { _ in false }.0
                try? s.close()
                return nil
            } catch { return error }
        }
        let c = try SanSocket(provider: p)
        defer { try? c.close() }
        #expect(throws: SanSwitchError.call(function: "WSPConnect", error: .connectionRefused),
                "CF_REJECT: the connector's FD_CONNECT error is WSAECONNREFUSED") {
            try c.connect(to: address)
        }
        #expect(acceptor.join() == .call(function: "WSPAccept", error: .connectionRefused),
                "WSPAccept returns WSAECONNREFUSED after CF_REJECT")
    }
}
