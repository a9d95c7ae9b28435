#if canImport(Glibc)
import Glibc
#endif
import CSanABI
import SanCore
import SanSwitch

/// Runs sanperf: loads the provider, connects the two ends where the configuration places them,
/// runs the workload and the optional raw-TCP baseline, and returns this process's report (the
/// client's when both ends run here).
public enum PerfRunner {
    /// Runs one invocation. `note` receives progress lines meant for stderr (the server's port).
    public static func run(_ config: PerfConfig, note: (String) -> Void = { _ in }) throws(PerfError) -> PerfReport {
        try config.validate()
        let provider = try Self.loadProvider(config.provider)
        switch config.placement {
        case .loopback: return try Self.loopback(provider, config)
        case .server(let port):
            let listener = try Self.listen(provider, host: "0.0.0.0", port: port)
            note("sanperf: \(config.test.rawValue) server on port \(listener.port), provider \(provider.requestedPath); waiting up to \(config.timeoutSeconds) s for a client")
            defer { try? listener.socket.close() }
            return try Self.serve(listener.socket, provider, config, mailbox: nil, rawHost: "0.0.0.0")
        case .client(let address):
            let socket = try Self.connect(provider, to: address, config)
            return try Self.runClient(socket, provider, config, mailbox: nil, server: address)
        }
    }

    static func loadProvider(_ name: String?) throws(PerfError) -> SanProvider {
        do { return try SanProvider.load(name) } catch {
            throw .provider("cannot use provider '\(name ?? ProviderLocator.defaultName)': \(error)")
        }
    }

    /// Both ends here: the server on a second thread, the client on this one, over 127.0.0.1.
    static func loopback(_ provider: SanProvider, _ config: PerfConfig) throws(PerfError) -> PerfReport {
        let listener = try Self.listen(provider, host: "127.0.0.1", port: 0)
        defer { try? listener.socket.close() }
        let mailbox = LoopbackMailbox()
        let server = PerfThread<Result<PerfReport, PerfError>> {
            do throws(PerfError) {
                return .success(try Self.serve(listener.socket, provider, config, mailbox: mailbox, rawHost: "127.0.0.1"))
            } catch { return .failure(error) }
        }
        let address = SanAddress.loopback(port: listener.port)
        let client: Result<PerfReport, PerfError>
        do throws(PerfError) {
            let socket = try Self.connect(provider, to: address, config)
            client = .success(try Self.runClient(socket, provider, config, mailbox: mailbox, server: address))
        } catch { client = .failure(error) }
        // A client that failed never sends what the server waits for: let it stop now.
        mailbox.close()
        let served = server.join()
        // The client's failure usually explains the server's (or is the same); report it first.
        if case .failure(let e) = client { throw e }
        if case .failure(let e) = served { throw e }
        var report = try client.get()
        report.placement = "loopback"
        return report
    }

    // MARK: Connection

    static func listen(_ provider: SanProvider, host: String, port: UInt16) throws(PerfError)
        -> (socket: SanSocket, port: UInt16)
    {
        do {
            let s = try SanSocket(provider: provider)
            // A provider without WSPGetSockName cannot report an ephemeral port: pick one.
            let want = port != 0 || provider.has(.getSockName) ? port : Self.freePort()
            try s.bind(SanAddress.ipv4(host, port: want)!)
            try s.listen()
            return (s, s.localAddress?.port ?? want)
        } catch {
            throw .during("listening on \(host):\(port)", error)
        }
    }

    static func connect(_ provider: SanProvider, to address: SanAddress, _ config: PerfConfig) throws(PerfError) -> SanSocket {
        do {
            let s = try SanSocket(provider: provider, family: address.family)
            try s.connect(to: address, timeoutMilliseconds: Int32(config.timeoutSeconds * 1000))
            return s
        } catch {
            throw .during("connecting to \(address)", error)
        }
    }

    /// An unused TCP port on this machine (bound to 0 by the kernel, then released).
    static func freePort() -> UInt16 {
        guard let (s, port) = try? RawTCPSocket.listen(host: "127.0.0.1") else { return 18515 }
        s.close()
        return port
    }

    // MARK: The two ends

    static func runClient(_ socket: SanSocket, _ provider: SanProvider, _ config: PerfConfig,
                          mailbox: LoopbackMailbox?, server: SanAddress) throws(PerfError) -> PerfReport {
        let e: PerfEndpoint
        do { e = try PerfEndpoint(provider: provider, socket: socket, config: config, side: .client, mailbox: mailbox) } catch {
            try? socket.close()
            throw error
        }
        let workload = makeWorkload(config.test, config)
        // Deregister, close (pending operations end), and only then free the workload's memory.
        defer { Self.finish(e, workload) }
        try Self.checkLimits(e, config)
        var hello = SetupMessage(kind: .hello)
        hello.test = config.test
        hello.size = UInt32(config.size)
        hello.iterations = UInt32(config.iterations)
        hello.txDepth = UInt32(config.txDepth)
        hello.rawTCP = config.rawTCP
        hello.descriptor = try workload.prepareClient(e)
        try e.control.postReceive()
        try e.control.send(hello)
        let reply = try e.control.receive(.reply)
        guard reply.status == 0 else { throw .failed("the server refused the run: \(reply.text)") }
        let measurement = try workload.runClient(e, serverDescriptor: reply.descriptor)
        var raw: PerfMeasurement? = nil
        if config.rawTCP {
            var a = server
            a.port = reply.rawPort
            let s = try RawTCPSocket.connect(a.bytes)
            defer { s.close() }
            raw = try RawTCPBaseline.client(s, config)
        }
        return Self.report(config, provider, .client, measurement, workload, raw, dataMoved: e.dataMoved)
    }

    static func serve(_ listener: SanSocket, _ provider: SanProvider, _ config: PerfConfig,
                      mailbox: LoopbackMailbox?, rawHost: String) throws(PerfError) -> PerfReport {
        let socket = try Self.accept(listener, config, mailbox)
        let e: PerfEndpoint
        do { e = try PerfEndpoint(provider: provider, socket: socket, config: config, side: .server, mailbox: mailbox) } catch {
            try? socket.close()
            throw error
        }
        var workload: (any PerfWorkload)? = nil
        defer { Self.finish(e, workload) }
        try e.control.postReceive()
        let hello = try e.control.receive(.hello)
        var c = config
        c.size = Int(hello.size)
        c.iterations = Int(hello.iterations)
        c.txDepth = Int(hello.txDepth)
        c.rawTCP = hello.rawTCP
        if let problem = Self.refusal(hello, c, e) {
            var no = SetupMessage(kind: .reply)
            no.status = 1
            no.text = problem
            try e.control.send(no)
            throw .failed("server side: refused the client's run: \(problem)")
        }
        let w = makeWorkload(c.test, c)
        workload = w
        var reply = SetupMessage(kind: .reply)
        reply.test = c.test
        reply.descriptor = try w.prepareServer(e, clientDescriptor: hello.descriptor)
        var rawListener: RawTCPSocket? = nil
        if c.rawTCP {
            let (l, port) = try RawTCPSocket.listen(host: rawHost)
            rawListener = l
            reply.rawPort = port
        }
        defer { rawListener?.close() }
        try e.control.send(reply)
        let measurement = try w.runServer(e)
        if let l = rawListener {
            let s = try l.accept(timeoutSeconds: c.timeoutSeconds)
            defer { s.close() }
            try RawTCPBaseline.server(s, c)
        }
        return Self.report(c, provider, .server, measurement, w, nil, dataMoved: e.dataMoved)
    }

    /// The end of either side: deregister, close the socket (pending operations complete with
    /// WSA_OPERATION_ABORTED), and only then let the workload free the memory they used.
    static func finish(_ e: PerfEndpoint, _ workload: (any PerfWorkload)?) {
        workload?.release(e)
        e.close()
        withExtendedLifetime(workload) {}
    }

    /// Waits for the client in slices, so a loopback server stops as soon as its client gave up.
    static func accept(_ listener: SanSocket, _ config: PerfConfig, _ mailbox: LoopbackMailbox?) throws(PerfError)
        -> SanSocket
    {
        let deadline = perfNow() + config.timeoutNanoseconds
        while true {
            do { return try listener.accept(timeoutMilliseconds: 100).0 } catch {
                guard case .timedOut = error else { throw .during("server side: accepting the client", error) }
            }
            if mailbox?.isClosed == true { throw .failed("server side: the client gave up before connecting") }
            if perfNow() >= deadline { throw .failed("server side: no client within \(config.timeoutSeconds) s") }
        }
    }

    /// Why the server cannot run what the client asked, or nil.
    static func refusal(_ hello: SetupMessage, _ c: PerfConfig, _ e: PerfEndpoint) -> String? {
        if hello.test != c.test {
            return "the client runs \(hello.test.rawValue) but the server was started for \(c.test.rawValue)"
        }
        do throws(PerfError) {
            try c.validate()
            try Self.checkLimits(e, c)
        } catch { return error.description }
        return nil
    }

    /// The provider's limits (reference §4.3) and optional extensions against the run.
    static func checkLimits(_ e: PerfEndpoint, _ c: PerfConfig) throws(PerfError) {
        let isSend = c.test == .sendBandwidth || c.test == .sendLatency
        if isSend, let max = try? e.socket.option(SO_MAX_MSG_SIZE), c.size > Int(max) {
            throw .badInput("--size \(c.size) exceeds the provider's SO_MAX_MSG_SIZE (\(max) bytes)")
        }
        if c.test.usesRdma, let max = try? e.socket.option(SO_MAX_RDMA_SIZE), c.size > Int(max) {
            throw .badInput("--size \(c.size) exceeds the provider's SO_MAX_RDMA_SIZE (\(max) bytes)")
        }
        if (c.test == .readBandwidth || c.test == .readLatency) && e.provider.extensions.rdmaRead == nil {
            throw .badInput("\(c.test.rawValue) needs WSPRdmaRead, which this provider does not support (WSAEOPNOTSUPP)")
        }
    }

    static func report(_ c: PerfConfig, _ provider: SanProvider, _ side: PerfSide, _ m: PerfMeasurement,
                       _ w: any PerfWorkload, _ raw: PerfMeasurement?, dataMoved: Bool) -> PerfReport {
        let placement: String
        switch c.placement {
        case .loopback: placement = "loopback"
        case .server: placement = "server"
        case .client: placement = "client"
        }
        var r = PerfReport(test: c.test, provider: c.provider ?? ProviderLocator.defaultName,
                           providerPath: provider.requestedPath, side: side, placement: placement, size: c.size,
                           iterations: c.iterations, txDepth: c.txDepth, completion: c.completion, wait: c.wait,
                           measurement: m)
        r.churn = w.churn
        r.rawTCP = raw
        r.dataMoved = dataMoved
        return r
    }
}
