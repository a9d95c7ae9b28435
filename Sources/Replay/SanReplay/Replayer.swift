import CSanReplay
import CSanSupport
import SanCore
import SanSwitch
import SanTraceFormat
import SanTraceStore

#if canImport(Glibc)
import Glibc
#endif

/// Replays a trace set against a backend: the entry point of `sanreplay replay`.
///
/// ```swift
/// var o = ReplayOptions(trace: "run/")
/// o.backend = "tcp"
/// let report = try Replayer.run(o)
/// print(report.text.joined(separator: "\n"))
/// ```
public enum Replayer {
    /// This process's executable (from /proc/self/exe), for ``ReplayOptions/executable``.
    public static var currentExecutable: String? {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Plans, runs and reports. Throws ``ReplayError`` (or a trace error) when the replay cannot
    /// run at all; divergences are in the report.
    public static func run(_ options: ReplayOptions, log: @escaping (String) -> Void = { _ in }) throws -> ReplayReport {
        if let dir = options.recordDirectory { try RecordingSetup.enable(directory: dir) }
        if case .coordinatorOnly(let address) = options.placement {
            return try CoordinatorSession.serveOnly(address: address, options: options, log: log)
        }
        let t0 = csan_monotonic_ns()
        let plan = try ReplayPlan.build(trace: options.trace)
        log("sanreplay: planned \(plan.traces.count) trace(s) in \(Double(csan_monotonic_ns() - t0) / 1e6) ms: "
            + plan.endpoints.map { "\($0.name) (\($0.trace.events) events, \($0.threads.count) thread(s), \($0.stepCount) steps, \($0.ops.count) operations, \($0.checks.count) data checks)" }
                .joined(separator: ", ")
            + (plan.synthetic.isEmpty ? "" : "; synthesizing \(plan.synthetic.map(\.name).joined(separator: ", "))"))
        if options.recordDirectory != nil, options.placement == .inProcess, plan.traces.count > 1,
           let exe = options.executable {
            return try ProcessSplit.run(plan: plan, options: options, executable: exe, log: log)
        }
        var endpoints = Array(plan.endpoints.indices)
        var coordinator: ReplayCoordinator = LocalCoordinator()
        var server: CoordinatorServer?
        if case .endpoint(let name, let address, let serve) = options.placement {
            let e = try plan.endpointIndex(named: name)
            endpoints = [e]
            if serve { server = try CoordinatorServer(address: address, expected: plan.traces.count, log: log) }
            coordinator = try RemoteCoordinator(address: address, endpoint: plan.traces[e].name, timeoutNs: options.timeoutNanoseconds)
        }
        defer { server?.shutdown() }
        let run = ReplayRun(plan: plan, endpoints: endpoints, options: options, coordinator: coordinator, log: log)
        var report = try run.execute()
        if let server {
            // The serving endpoint waits for the others before tearing the coordinator down.
            server.waitForAll(timeoutNs: options.timeoutNanoseconds)
            for (name, diverged, summary) in server.outcomes where name != report.endpoints.first {
                report.notes.append("endpoint \(name) \(diverged ? "diverged" : "finished"): \(summary)")
            }
        }
        return report
    }
}

/// One replay in this process: loads the backend per endpoint, runs the threads, the synthetic
/// peers and the watchdog, and gathers the report.
final class ReplayRun {
    let plan: ReplayPlan
    let endpoints: [Int]
    let options: ReplayOptions
    let control: ReplayControl
    let log: (String) -> Void
    /// Nanoseconds per TSC tick (live call timing).
    let nsPerTick = 1e9 / ClockCalibration.measure(milliseconds: 10).tscHz

    init(plan: ReplayPlan, endpoints: [Int], options: ReplayOptions, coordinator: ReplayCoordinator,
         log: @escaping (String) -> Void) {
        self.plan = plan
        self.endpoints = endpoints
        self.options = options
        self.log = log
        self.control = ReplayControl(options: options, coordinator: coordinator)
        self.control.plans = plan.endpoints
        self.control.syntheticNames = plan.synthetic.map(\.name)
    }

    func execute() throws -> ReplayReport {
        // Load the backend once per endpoint (each endpoint makes its own WSPStartupEx, as each
        // recorded process did).
        var lives: [LiveEndpoint] = []
        var backendPath = ""
        for e in self.endpoints {
            let provider = try Self.load(self.options.backend)
            backendPath = provider.requestedPath
            lives.append(LiveEndpoint(plan: self.plan.endpoints[e], provider: provider))
        }
        let peers = self.plan.synthetic.filter { self.endpoints.contains($0.recordedEndpoint) }
        var synthetic: [SyntheticRunner] = []
        for p in peers {
            let provider = try Self.load(self.options.backend)
            backendPath = provider.requestedPath
            synthetic.append(SyntheticRunner(plan: p, control: self.control, provider: provider))
        }
        let nsPerTick = self.nsPerTick
        let starts = self.endpoints.flatMap { self.plan.endpoints[$0].threadStartRealtime }
        let setStart = starts.min() ?? 0
        let replayStart = csan_monotonic_ns() &+ 2_000_000
        var runners: [[ThreadRunner]] = []
        for live in lives {
            runners.append(live.plan.threads.indices.map { i in
                ThreadRunner(live: live, index: i, control: self.control, nsPerTick: nsPerTick, replayStart: replayStart,
                             startOffsetNs: live.plan.threadStartRealtime[i] - setStart)
            })
        }
        self.log("sanreplay: replaying \(self.endpoints.map { self.plan.endpoints[$0].name }.joined(separator: ", ")) on \(backendPath)")
        let t0 = csan_monotonic_ns()
        var drivers: [ReplayThread] = []
        for (k, live) in lives.enumerated() {
            let rs = runners[k]
            drivers.append(ReplayThread(name: "replay-ep\(live.plan.endpoint)") { self.drive(live, rs) })
        }
        for s in synthetic { drivers.append(ReplayThread(name: "replay-peer") { s.run() }) }
        let watchdog = Watchdog(control: self.control, runners: runners.flatMap { $0 })
        let dog = ReplayThread(name: "replay-watchdog") { watchdog.run() }
        // Wait; a thread stuck inside a provider call cannot be joined: after the watchdog
        // stopped the replay, give the others a grace period and report.
        var hung = 0
        for d in drivers {
            while !d.finished {
                if watchdog.fired { break }
                usleep(1000)
            }
            if !d.join(until: csan_monotonic_ns() &+ 3_000_000_000) { hung += 1 }
        }
        let wall = Double(csan_monotonic_ns() - t0) / 1e9
        watchdog.finish()
        dog.join()
        var report = self.report(runners: runners.flatMap { $0 }, synthetic: synthetic, backend: backendPath, wall: wall)
        if hung > 0 { report.notes.append("\(hung) endpoint(s) still inside a provider call when the replay gave up") }
        if hung == 0 { for l in lives { l.release() } }
        return report
    }

    static func load(_ backend: String?) throws(ReplayError) -> SanProvider {
        do { return try SanProvider.load(backend) } catch {
            throw .backend("cannot use backend '\(backend ?? ProviderLocator.defaultName)': \(error)")
        }
    }

    /// Runs one endpoint's threads, then observes the operations its threads never waited for
    /// (completions after the last call), and tells the others it is done.
    private func drive(_ live: LiveEndpoint, _ runners: [ThreadRunner]) {
        let threads = runners.map { r in ReplayThread(name: "replay-t\(r.recordedThread)") { r.run() } }
        for t in threads { t.join() }
        if !self.control.stopped, let first = runners.first { first.sweep() }
        self.control.coordinator.publish(Pairing.doneKey(live.plan.endpoint), [1])
        let diverged = !self.control.divergences.isEmpty
        self.control.coordinator.finished(endpoint: live.plan.name, diverged: diverged,
                                          summary: diverged ? "\(self.control.divergences.count) divergence(s)" : "no divergence")
    }

    // MARK: Report

    private func report(runners: [ThreadRunner], synthetic: [SyntheticRunner], backend: String, wall: Double) -> ReplayReport {
        let all = ThreadStats()
        for r in runners { all.merge(r.stats) }
        for s in synthetic { all.merge(s.stats) }
        var rep = ReplayReport(trace: self.options.trace, endpoints: self.endpoints.map { self.plan.endpoints[$0].name },
                               synthetic: synthetic.map(\.plan.name), backend: backend, pace: self.options.pace.description,
                               policy: self.options.divergence.rawValue)
        for id in 0..<LatencyBank.slots where all.calls[id] > 0 {
            let f = FunctionID(UInt16(id))
            let span = Double(all.lastTSC[id] &- all.firstTSC[id]) * self.nsPerTick / 1e9
            let rate = all.calls[id] > 1 && span > 0 ? Double(all.calls[id] - 1) / span : 0
            rep.functions.append(ReplayReport.FunctionLine(function: f.name, calls: all.calls[id],
                                                           p50: all.latency.percentile(id, 50), p99: all.latency.percentile(id, 99),
                                                           p999: all.latency.percentile(id, 99.9), max: all.latency.max(id),
                                                           rate: rate))
            rep.callsReplayed += all.calls[id]
        }
        for id in 0..<LatencyBank.slots where all.unavailable[id] > 0 {
            rep.unavailable[FunctionID(UInt16(id)).name] = Int(all.unavailable[id])
        }
        rep.callsCompared = all.compared
        rep.completionsCompared = all.completionsCompared
        rep.dataChecks = all.dataChecks
        rep.dataBytesChecked = all.dataBytesChecked
        rep.dataFailures = all.dataFailures
        rep.dataSkipped = all.dataSkipped
        rep.bytesNotCompared = all.bytesNotCompared
        rep.operations = all.operations
        rep.bytesMoved = all.bytesMoved
        rep.cpuSeconds = Double(all.cpuNs) / 1e9
        // The replay's span: first call to the end of the last thread (pacing's initial offsets and
        // loading excluded); the whole run when no call was made.
        rep.wallSeconds = all.lastCall > all.firstCall && all.firstCall > 0 ? Double(all.lastCall - all.firstCall) / 1e9 : wall
        for e in self.endpoints {
            let p = self.plan.endpoints[e]
            for (f, n) in p.timingSkipped { rep.timingSkipped[f.name, default: 0] += n }
            for (f, n) in p.startupSkipped { rep.startupSkipped[f.name, default: 0] += n }
            for (f, n) in p.unsupported { rep.unsupported[f.name, default: 0] += n }
            for (k, n) in p.uncheckable { rep.uncheckable[k, default: 0] += n }
        }
        for s in synthetic { for (k, n) in s.plan.uncheckable { rep.uncheckable[k, default: 0] += n } }
        rep.divergences = self.control.divergences
        for (k, n) in self.control.divergenceCounts { rep.divergenceCounts[k.rawValue] = n }
        rep.transport = self.control.transportNote
        rep.stopped = self.control.stopReason
        rep.notes = self.plan.notes
        if let f = self.options.pace.factor, all.pacing.count(0) > 0 {
            rep.pacing = ReplayReport.Pacing(mode: self.options.pace.description + (f == 1 ? "" : " (recorded gaps × \(self.options.pace.description.dropFirst()))"),
                                             calls: all.pacing.count(0), p50: all.pacing.percentile(0, 50),
                                             p99: all.pacing.percentile(0, 99), max: all.pacing.max(0))
        }
        rep.recordDirectory = self.options.recordDirectory
        return rep
    }
}

extension ThreadRunner {
    /// Observes every started operation the recording saw complete but no thread waited for.
    func sweep() {
        for x in 0..<self.plan.ops.count where csan_replay_load_u32(self.live.opState + x) == 1 {
            let op = self.live.ops[x]
            guard op.hasCompletion else { continue }
            let ov = self.live.overlapped[Int(op.ov)]
            do {
                try self.waitUntil("the completion of \(self.describe(op: Int32(x)))", origin: self.origin(op.origin)) {
                    self.published(ov)
                }
            } catch { return }
            self.finish(Int32(x), op, status: Int32(bitPattern: ov.pointee.OffsetHigh),
                        bytes: UInt32(truncatingIfNeeded: ov.pointee.InternalHigh))
        }
    }
}

/// `--record DIR`: the replay records itself with the interposer, loaded in place of the backend
/// (SAN_LAYER), writing into DIR (SANTRACE_DIR).
enum RecordingSetup {
    static func enable(directory: String) throws(ReplayError) {
        guard let lib = Self.locate() else {
            throw .usage("--record needs libsantrace.so next to the sanreplay executable or in ../lib (searched \(ProviderLocator.executableDirectory))")
        }
        if let failure = TraceSet.makeFolders(directory) { throw .usage("--record: " + failure) }
        setenv("SAN_LAYER", lib, 1)
        setenv("SANTRACE_DIR", directory, 1)
    }

    static func locate() -> String? {
        let dir = ProviderLocator.executableDirectory
        for p in [dir + "/libsantrace.so", dir + "/../lib/libsantrace.so"] where access(p, R_OK) == 0 { return p }
        return nil
    }
}
