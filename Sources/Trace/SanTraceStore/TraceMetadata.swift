import CSanSupport
import SanTraceFormat

#if canImport(Glibc)
import Glibc
#endif

/// How raw TSC values map to time (Docs/TraceFormat.md §Time): `ns = (tsc − anchorTSC) × 1e9 /
/// tscHz`, and the wall-clock time of a TSC is `anchorRealtimeNs` plus that.
public struct ClockCalibration: Sendable, Equatable {
    /// TSC ticks per second, measured against CLOCK_MONOTONIC.
    public var tscHz: Double
    /// A TSC reading and the CLOCK_REALTIME / CLOCK_MONOTONIC nanoseconds taken with it.
    public var anchorTSC: UInt64
    public var anchorRealtimeNs: Int64
    public var anchorMonotonicNs: Int64

    public init(tscHz: Double, anchorTSC: UInt64, anchorRealtimeNs: Int64, anchorMonotonicNs: Int64) {
        self.tscHz = tscHz
        self.anchorTSC = anchorTSC
        self.anchorRealtimeNs = anchorRealtimeNs
        self.anchorMonotonicNs = anchorMonotonicNs
    }

    /// Calibration for traces whose "TSC" already counts nanoseconds (synthetic traces, tests).
    public static let nanoseconds = ClockCalibration(tscHz: 1e9, anchorTSC: 0, anchorRealtimeNs: 0, anchorMonotonicNs: 0)

    /// Measures the TSC rate over `milliseconds` of CLOCK_MONOTONIC (default 20 ms: the error is
    /// about 50 ns / 20 ms = 2.5 ppm) and takes an anchor pair.
    public static func measure(milliseconds: Int = 20) -> ClockCalibration {
        func pair() -> (UInt64, Int64) {
            // The TSC read closest to the middle of the clock read: bracket and average.
            let a = csan_rdtsc()
            let m = Int64(csan_monotonic_ns())
            let b = csan_rdtsc()
            return (a &+ (b &- a) / 2, m)
        }
        let (t0, m0) = pair()
        var real = timespec()
        clock_gettime(CLOCK_REALTIME, &real)
        let realNs = Int64(real.tv_sec) * 1_000_000_000 + Int64(real.tv_nsec)
        var req = timespec(tv_sec: 0, tv_nsec: milliseconds * 1_000_000)
        var rem = timespec()
        while nanosleep(&req, &rem) != 0 { req = rem }
        let (t1, m1) = pair()
        let hz = m1 > m0 ? Double(t1 &- t0) * 1e9 / Double(m1 - m0) : 1e9
        return ClockCalibration(tscHz: hz, anchorTSC: t0, anchorRealtimeNs: realNs, anchorMonotonicNs: m0)
    }

    /// Nanoseconds from `from` to `tsc` (negative when earlier; saturating).
    @inlinable
    public func nanoseconds(from: UInt64, to tsc: UInt64) -> Int64 {
        let d = Int64(bitPattern: tsc &- from)
        return saturatingInt64(Double(d) * 1e9 / self.tscHz)
    }

    /// Ticks in `ns` nanoseconds (saturating).
    public func ticks(nanoseconds ns: Int64) -> Int64 { saturatingInt64(Double(ns) * self.tscHz / 1e9) }

    /// The TSC rates a reader accepts (1 kHz … 1 THz): anything else in a trace is damage.
    public static let plausibleHz: ClosedRange<Double> = 1e3...1e12
}

/// What a trace records about the recorded process (the `meta` and `argv` tables).
public struct TraceMetadata: Sendable {
    public var host: String
    public var pid: Int32
    /// Set in a forked child's trace.
    public var parentPid: Int32?
    public var argv: [String]
    public var providerPath: String
    public var providerVersion: String
    public var payloadPolicy: PayloadPolicy
    /// Free-form capture options (`key`, `value`), stored as meta keys `option.<key>`.
    public var captureOptions: [(String, String)]
    public var clock: ClockCalibration

    public init(host: String = TraceMetadata.hostName(), pid: Int32 = getpid(), parentPid: Int32? = nil,
                argv: [String] = [], providerPath: String = "", providerVersion: String = "",
                payloadPolicy: PayloadPolicy = .none, captureOptions: [(String, String)] = [],
                clock: ClockCalibration) {
        self.host = host
        self.pid = pid
        self.parentPid = parentPid
        self.argv = argv
        self.providerPath = providerPath
        self.providerVersion = providerVersion
        self.payloadPolicy = payloadPolicy
        self.captureOptions = captureOptions
        self.clock = clock
    }

    /// `gethostname`.
    public static func hostName() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count - 1) == 0 else { return "" }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// `v` rounded to an Int64, saturating at the ends and 0 for NaN (a damaged calibration must
/// not trap a reader).
@inlinable
public func saturatingInt64(_ v: Double) -> Int64 {
    guard v.isFinite else { return v.isNaN ? 0 : (v > 0 ? .max : .min) }
    let r = v.rounded()
    if r >= 9.2e18 { return .max }
    if r <= -9.2e18 { return .min }
    return Int64(r)
}

/// Wall-clock time now, ns since the epoch.
func realtimeNow() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

/// CLOCK_MONOTONIC now, ns.
@inline(__always)
func monotonicNow() -> UInt64 { csan_monotonic_ns() }
