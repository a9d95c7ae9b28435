import CSanABI
import CSanReplay
import CSanSupport
import SanCore
import SanSwitch

#if canImport(Glibc)
import Glibc
#endif

private let acceptAll: LPCONDITIONPROC = { _, _, _, _, _, _, _, _ in CF_ACCEPT }
private let rejectAll: LPCONDITIONPROC = { _, _, _, _, _, _, _, _ in CF_REJECT }

/// Socket life cycle, network events, registrations and the rarely used calls. Unsafe code: raw
/// sockaddr and option buffers.
extension ThreadRunner {
    // MARK: Life cycle

    func lifecycle(_ s: Step) throws(ReplayStop) {
        var err: Int32 = 0
        switch s.kind {
        case .socket:
            var info = WSAPROTOCOL_INFOW()
            info.iVersion = 2
            info.iAddressFamily = Int32(s.a)
            info.iSocketType = Int32(s.b)
            info.iProtocol = Int32(s.c)
            let t0 = csan_rdtsc()
            let v = self.live.procs.lpWSPSocket!(Int32(s.a), Int32(s.b), Int32(s.c), &info, 0, UInt32(truncatingIfNeeded: s.d), &err)
            self.timed(s, t0)
            let ok = v != sanInvalidSocket
            self.live.setSocket(s.result, ok ? v : nil)
            self.compare(s, ret: ok ? 0 : -1, err: ok ? 0 : err, bytes: 0)
        case .bind:
            let sock = try self.socket(s.socket, s)
            var addr = self.plan.blobs[Int(s.blob)]
            // A provider that cannot report its port (no WSPGetSockName) gets a free one now.
            if self.live.procs.lpWSPGetSockName == nil, var a = RecordedAddress(addr), a.port == 0 {
                a.port = freePort()
                addr = a.bytes
                self.live.setBound(s.socket, addr)
            }
            let t0 = csan_rdtsc()
            let rc = addr.withUnsafeBytes {
                self.live.procs.lpWSPBind!(sock, $0.baseAddress?.assumingMemoryBound(to: sockaddr.self), Int32($0.count), &err)
            }
            self.timed(s, t0)
            self.compare(s, ret: Int64(rc), err: rc == 0 ? 0 : err, bytes: 0)
        case .listen:
            let sock = try self.socket(s.socket, s)
            let t0 = csan_rdtsc()
            let rc = self.live.procs.lpWSPListen!(sock, Int32(s.a), &err)
            self.timed(s, t0)
            self.compare(s, ret: Int64(rc), err: rc == 0 ? 0 : err, bytes: 0)
            if rc == 0, s.publish >= 0 { self.publishListener(s, sock, live: nil) }
        case .connect:
            let sock = try self.socket(s.socket, s)
            var addr: [UInt8]
            if s.object >= 0 {
                let target = self.plan.connectTargets[Int(s.object)]
                if let after = target.afterKey { _ = try self.await(after, s, "the previous connection to this listener accepted") }
                addr = try self.await(target.listenKey, s, "the listener's address")
            } else {
                addr = s.blob >= 0 ? self.plan.blobs[Int(s.blob)] : []
            }
            let t0 = csan_rdtsc()
            let rc = addr.withUnsafeBytes {
                self.live.procs.lpWSPConnect!(sock, $0.baseAddress?.assumingMemoryBound(to: sockaddr.self), Int32($0.count),
                                              nil, nil, nil, nil, &err)
            }
            self.timed(s, t0)
            self.compare(s, ret: Int64(rc), err: rc == 0 ? 0 : err, bytes: 0)
        case .accept:
            try self.accept(s)
        case .closeSocket:
            let sock = try self.socket(s.socket, s)
            let t0 = csan_rdtsc()
            let rc = self.live.procs.lpWSPCloseSocket!(sock, &err)
            self.timed(s, t0)
            self.compare(s, ret: Int64(rc), err: rc == 0 ? 0 : err, bytes: 0)
        default:
            break
        }
    }

    /// WSPAccept until it takes a connection when the recorded one did (WSAEWOULDBLOCK before the
    /// peer arrives is timing, as the recorded application's own retries were).
    private func accept(_ s: Step) throws(ReplayStop) {
        let listener = try self.socket(s.socket, s)
        var storage = sockaddr_storage()
        var len = Int32(MemoryLayout<sockaddr_storage>.size)
        var err: Int32 = 0
        var v = sanInvalidSocket
        let condition: LPCONDITIONPROC? = s.a != 0 ? (s.b != 0 ? rejectAll : acceptAll) : nil
        var t0 = csan_rdtsc()
        try self.waitUntil("a connection to accept", origin: self.origin(s.origin)) {
            len = Int32(MemoryLayout<sockaddr_storage>.size)
            t0 = csan_rdtsc()
            v = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    self.live.procs.lpWSPAccept!(listener, $0, &len, condition, 0, &err)
                }
            }
            return v != sanInvalidSocket || err != wsaWouldBlock || s.expectRet != 0
        }
        self.timed(s, t0)
        let ok = v != sanInvalidSocket
        self.live.setSocket(s.result, ok ? v : nil)
        self.compare(s, ret: ok ? 0 : -1, err: ok ? 0 : err, bytes: 0)
        if ok, s.publish >= 0 { self.control.coordinator.publish(self.plan.keys[Int(s.publish)], [1]) }
    }

    /// Publishes a listener's live address: the kernel's port (WSPGetSockName, or the output of
    /// the recorded WSPGetSockName being replayed), with a wildcard address replaced by one
    /// peers can reach.
    func publishListener(_ s: Step, _ sock: SOCKET, live output: [UInt8]?) {
        var bytes = output
        if bytes == nil, let gsn = self.live.procs.lpWSPGetSockName {
            var storage = sockaddr_storage()
            var len = Int32(MemoryLayout<sockaddr_storage>.size)
            var err: Int32 = 0
            let rc = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { gsn(sock, $0, &len, &err) }
            }
            if rc == 0 { bytes = withUnsafeBytes(of: &storage) { Array($0.prefix(Int(len))) } }
        }
        if bytes == nil { bytes = self.live.bound(s.socket) }
        guard let b = bytes, var a = RecordedAddress(b) else { return }
        if a.isWildcard {
            if let host = self.control.coordinator.advertisedHost, let h = RecordedAddress(host), h.family == a.family {
                a.ip = h.ip
            } else {
                a = RecordedAddress.loopback(family: a.family, port: a.port)
            }
        }
        self.control.coordinator.publish(self.plan.keys[Int(s.publish)], a.bytes)
    }

    // MARK: Network events

    func networkEvents(_ s: Step) throws(ReplayStop) {
        let sock = try self.socket(s.socket, s)
        let ev = self.live.event(s.object)
        var err: Int32 = 0
        if s.kind == .eventSelect {
            let t0 = csan_rdtsc()
            let rc = self.live.procs.lpWSPEventSelect!(sock, ev?.handle, Int32(truncatingIfNeeded: s.a), &err)
            self.timed(s, t0)
            self.compare(s, ret: Int64(rc), err: rc == 0 ? 0 : err, bytes: 0)
            return
        }
        // The recording saw these events: the application had waited for its event first.
        if let ev, s.a != 0 {
            try self.waitUntil("network events \(eventNames(s.a)) on the event", origin: self.origin(s.origin)) {
                ev.wait(timeoutMilliseconds: 1)
            }
        }
        var ne = WSANETWORKEVENTS()
        let t0 = csan_rdtsc()
        let rc = self.live.procs.lpWSPEnumNetworkEvents!(sock, ev?.handle, &ne, &err)
        self.timed(s, t0)
        self.compare(s, ret: Int64(rc), err: rc == 0 ? 0 : err, bytes: 0)
        guard rc == 0, s.expectRet == 0 else { return }
        let codes = withUnsafeBytes(of: ne.iErrorCode) { Array($0.bindMemory(to: Int32.self)) }
        let want = Int32(truncatingIfNeeded: s.a)
        if ne.lNetworkEvents & want != want {
            self.diverge(s, .events, recorded: "events \(eventNames(s.a))", live: "events \(eventNames(Int64(ne.lNetworkEvents)))")
            return
        }
        if want & FD_CONNECT != 0, codes[Int(FD_CONNECT_BIT)] != Int32(truncatingIfNeeded: s.b) {
            self.diverge(s, .events, recorded: "FD_CONNECT error \(wsaName(Int32(truncatingIfNeeded: s.b)))",
                         live: "FD_CONNECT error \(wsaName(codes[Int(FD_CONNECT_BIT)]))")
        }
        if want & FD_ACCEPT != 0, codes[Int(FD_ACCEPT_BIT)] != Int32(truncatingIfNeeded: s.c) {
            self.diverge(s, .events, recorded: "FD_ACCEPT error \(wsaName(Int32(truncatingIfNeeded: s.c)))",
                         live: "FD_ACCEPT error \(wsaName(codes[Int(FD_ACCEPT_BIT)]))")
        }
    }

    // MARK: Registration

    func memory(_ s: Step) throws(ReplayStop) {
        var err: Int32 = 0
        switch s.kind {
        case .registerMemory:
            let sock = try self.socket(s.socket, s)
            let p = s.bufferCount > 0 ? UnsafeMutableRawPointer(self.live.memory(Int(s.buffers))) : nil
            let t0 = csan_rdtsc()
            let h = self.live.ext.registerMemory(sock, p, UInt32(truncatingIfNeeded: s.a), UInt32(truncatingIfNeeded: s.b), &err)
            self.timed(s, t0)
            if s.result >= 0 { self.live.setHandle(s.result, h.map { UInt(bitPattern: $0) }) }
            self.compare(s, ret: h == nil ? -1 : 0, err: h == nil ? err : 0, bytes: 0)
        case .deregisterMemory:
            let sock = try self.socket(s.socket, s)
            let h = try self.handle(s.object, s)
            let t0 = csan_rdtsc()
            let rc = self.live.ext.deregisterMemory(sock, h, &err)
            self.timed(s, t0)
            self.compare(s, ret: Int64(rc), err: rc == 0 ? 0 : err, bytes: 0)
        case .registerRdmaMemory:
            try self.registerRdma(s)
        case .deregisterRdmaMemory:
            let sock = try self.socket(s.socket, s)
            let (d, len) = try self.descriptor(s.object, s)
            let t0 = csan_rdtsc()
            let rc = self.live.ext.deregisterRdmaMemory(sock, d, len, &err)
            self.timed(s, t0)
            self.compare(s, ret: Int64(rc), err: rc == 0 ? 0 : err, bytes: 0)
        case .cacheCallback:
            if self.unavailable(s) { return }
            let p = s.bufferCount > 0 ? UnsafeMutableRawPointer(self.live.memory(Int(s.buffers))) : nil
            let rc: Int32
            if let cb = self.live.ext.memoryRegistrationCacheCallback {
                let t0 = csan_rdtsc()
                rc = cb(p, Int(truncatingIfNeeded: s.a), &err)
                self.timed(s, t0)
            } else {
                rc = -1
                err = WSAEOPNOTSUPP
            }
            self.compare(s, ret: Int64(rc), err: rc == 0 ? 0 : err, bytes: 0)
        default:
            break
        }
    }

    /// WSPRegisterRdmaMemory. The size probe is replayed as a probe (its answer is the backend's
    /// size, which later registrations use); a registration gets a block large enough for the
    /// backend and publishes the live descriptor for the peer.
    private func registerRdma(_ s: Step) throws(ReplayStop) {
        let sock = try self.socket(s.socket, s)
        let p = s.bufferCount > 0 ? UnsafeMutableRawPointer(self.live.memory(Int(s.buffers))) : nil
        var err: Int32 = 0
        let isProbe = s.d == 1
        var length = UInt32(truncatingIfNeeded: max(0, s.c))
        if !isProbe { length = min(max(length, self.live.liveDescriptorSize), UInt32(LiveEndpoint.descriptorCapacity)) }
        var scratch = [UInt8](repeating: 0, count: LiveEndpoint.descriptorCapacity)
        let rc: Int32 = scratch.withUnsafeMutableBytes { raw in
            let block = s.result >= 0 ? self.live.descriptor(s.result) : raw.baseAddress!
            let t0 = csan_rdtsc()
            let rc = self.live.ext.registerRdmaMemory(sock, p, UInt32(truncatingIfNeeded: s.a), UInt32(truncatingIfNeeded: s.b),
                                                      block, &length, &err)
            self.timed(s, t0)
            return rc
        }
        if isProbe, rc != 0, err == wsaFault, length > 0 { self.live.liveDescriptorSize = length }
        if s.result >= 0 {
            if rc == 0 {
                self.live.descriptorLength[Int(s.result)] = min(length, UInt32(LiveEndpoint.descriptorCapacity))
                self.live.publish(self.live.descriptorState, s.result, LiveEndpoint.ready)
                if let key = self.plan.descriptors[Int(s.result)].publishKey {
                    self.control.coordinator.publish(key, self.live.descriptorArray(s.result))
                }
            } else {
                self.live.publish(self.live.descriptorState, s.result, LiveEndpoint.failed)
            }
        }
        self.compare(s, ret: Int64(rc), err: rc == 0 ? 0 : err, bytes: 0)
    }

    // MARK: The rest

    /// True (and counted) when the backend leaves the function's slot NULL: the functions a SAN
    /// provider need not implement (reference §3.2) are skipped, not failed, on such a backend.
    private func unavailable(_ s: Step) -> Bool {
        let p = self.live.procs
        let missing: Bool
        switch s.kind {
        case .getSockName: missing = p.lpWSPGetSockName == nil
        case .getPeerName: missing = p.lpWSPGetPeerName == nil
        case .shutdown: missing = p.lpWSPShutdown == nil
        case .recvDisconnect: missing = p.lpWSPRecvDisconnect == nil
        case .sendDisconnect: missing = p.lpWSPSendDisconnect == nil
        case .getQOSByName: missing = p.lpWSPGetQOSByName == nil
        case .cancelBlockingCall: missing = p.lpWSPCancelBlockingCall == nil
        case .cacheCallback: missing = self.live.ext.memoryRegistrationCacheCallback == nil
        default: missing = false
        }
        if missing { self.stats.unavailable[Int(s.function.rawValue) & (LatencyBank.slots - 1)] &+= 1 }
        return missing
    }

    func other(_ s: Step) throws(ReplayStop) {
        var err: Int32 = 0
        var rc: Int32 = -1
        if self.unavailable(s) {
            // A listener whose address was to be published here: publish what bind chose.
            if s.publish >= 0 { self.publishListener(s, sanInvalidSocket, live: nil) }
            return
        }
        let sock = try self.socket(s.socket, s)
        let procs = self.live.procs
        let t0 = csan_rdtsc()
        switch s.kind {
        case .getSockName, .getPeerName:
            var storage = sockaddr_storage()
            var len = Int32(MemoryLayout<sockaddr_storage>.size)
            if let fn = s.kind == .getSockName ? procs.lpWSPGetSockName : procs.lpWSPGetPeerName {
                rc = withUnsafeMutablePointer(to: &storage) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { fn(sock, $0, &len, &err) }
                }
            } else {
                err = WSAEOPNOTSUPP
            }
            self.timed(s, t0)
            if rc == 0, s.publish >= 0 {
                self.publishListener(s, sock, live: withUnsafeBytes(of: &storage) { Array($0.prefix(Int(len))) })
            }
        case .getSockOpt:
            var len = Int32(max(0, min(s.c, 4096)))
            var buf = [CChar](repeating: 0, count: max(Int(len), 1))
            rc = procs.lpWSPGetSockOpt!(sock, Int32(truncatingIfNeeded: s.a), Int32(truncatingIfNeeded: s.b), &buf, &len, &err)
            self.timed(s, t0)
        case .setSockOpt:
            let value = s.blob >= 0 ? self.plan.blobs[Int(s.blob)] : []
            rc = value.withUnsafeBytes {
                procs.lpWSPSetSockOpt!(sock, Int32(truncatingIfNeeded: s.a), Int32(truncatingIfNeeded: s.b),
                                       $0.baseAddress?.assumingMemoryBound(to: CChar.self), Int32($0.count), &err)
            }
            self.timed(s, t0)
        case .ioctl:
            var input = s.blob >= 0 ? self.plan.blobs[Int(s.blob)] : []
            var output = [UInt8](repeating: 0, count: max(1, Int(min(max(s.b, 0), 65536))))
            var returned: UInt32 = 0
            rc = procs.lpWSPIoctl!(sock, UInt32(truncatingIfNeeded: s.a), &input, UInt32(input.count), &output,
                                   UInt32(truncatingIfNeeded: max(s.b, 0)), &returned, nil, nil, nil, &err)
            self.timed(s, t0)
        case .shutdown:
            if let fn = procs.lpWSPShutdown { rc = fn(sock, Int32(truncatingIfNeeded: s.a), &err) } else { err = WSAEOPNOTSUPP }
            self.timed(s, t0)
        case .recvDisconnect:
            if let fn = procs.lpWSPRecvDisconnect { rc = fn(sock, nil, &err) } else { err = WSAEOPNOTSUPP }
            self.timed(s, t0)
        case .sendDisconnect:
            if let fn = procs.lpWSPSendDisconnect { rc = fn(sock, nil, &err) } else { err = WSAEOPNOTSUPP }
            self.timed(s, t0)
        case .duplicateSocket:
            var info = WSAPROTOCOL_INFOW()
            rc = procs.lpWSPDuplicateSocket!(sock, UInt32(getpid()), &info, &err)
            self.timed(s, t0)
        case .getQOSByName:
            var qos = QOS()
            var name = WSABUF(len: 0, buf: nil)
            if let fn = procs.lpWSPGetQOSByName { rc = fn(sock, &name, &qos, &err) != 0 ? 0 : -1 } else { err = WSAEOPNOTSUPP }
            self.timed(s, t0)
            var st = s
            st.expectRet = s.expectRet != 0 ? 0 : -1
            self.compare(st, ret: Int64(rc), err: rc == 0 ? 0 : err, bytes: 0)
            return
        case .cancelBlockingCall:
            if let fn = procs.lpWSPCancelBlockingCall { rc = fn(&err) } else { err = WSAEOPNOTSUPP }
            self.timed(s, t0)
        case .cleanup:
            rc = procs.lpWSPCleanup!(&err)
            self.timed(s, t0)
        default:
            return
        }
        self.compare(s, ret: Int64(rc), err: rc == 0 ? 0 : err, bytes: 0)
    }
}

/// FD_* names of an event mask.
func eventNames(_ mask: Int64) -> String {
    let names: [(Int64, String)] = [(0x01, "FD_READ"), (0x02, "FD_WRITE"), (0x04, "FD_OOB"), (0x08, "FD_ACCEPT"),
                                     (0x10, "FD_CONNECT"), (0x20, "FD_CLOSE")]
    let parts = names.filter { mask & $0.0 != 0 }.map(\.1)
    return parts.isEmpty ? "none" : parts.joined(separator: "|")
}

/// A TCP port nothing listens on right now (the kernel's choice, released at once).
func freePort() -> UInt16 {
    let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return 0 }
    defer { close(fd) }
    var sin = sockaddr_in()
    sin.sin_family = sa_family_t(AF_INET)
    sin.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &sin) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            Glibc.bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0
        }
    }
    return ok ? UInt16(bigEndian: sin.sin_port) : 0
}
