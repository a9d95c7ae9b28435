import CSanReplay
import CSanSupport

#if canImport(Glibc)
import Glibc
#endif

/// Issues a thread's calls with the recorded gaps (scaled): sleeps until shortly before the
/// target, then spins on the monotonic clock, which holds the error to microseconds (the thread's
/// timer slack is set to 1 ns, so the sleep itself wakes within a few µs instead of the default
/// 50 µs slack).
struct Pacer {
    let factor: Double
    /// Start of the previous call (monotonic ns).
    var last: UInt64 = 0

    /// Sleep no closer than this to the target; spin the rest.
    static let spinNs: UInt64 = 25_000

    init(factor: Double) {
        self.factor = factor
        _ = csan_replay_timer_slack(1)
    }

    /// Waits until `target` (monotonic ns); returns the time it went.
    static func until(_ target: UInt64, stopped: () -> Bool) -> UInt64 {
        while true {
            let now = csan_monotonic_ns()
            if now >= target { return now }
            let left = target - now
            if left > Self.spinNs + 5_000 {
                // Sleep in slices of at most 50 ms, so a stop is noticed.
                let nap = min(left - Self.spinNs, 50_000_000)
                var ts = timespec(tv_sec: Int(nap / 1_000_000_000), tv_nsec: Int(nap % 1_000_000_000))
                nanosleep(&ts, nil)
                if stopped() { return csan_monotonic_ns() }
            } else {
                csan_cpu_relax()
            }
        }
    }

    /// Waits for the next call `gapNs` recorded nanoseconds after the previous one; returns the
    /// error (|achieved gap − target gap|, ns).
    mutating func next(gapNs: Int64, stopped: () -> Bool) -> UInt64 {
        let want = UInt64(max(0, (Double(gapNs) * self.factor).rounded()))
        let target = self.last &+ want
        let now = Self.until(target, stopped: stopped)
        let error = now > target ? now - target : target - now
        self.last = now
        return error
    }

    /// The first call of the thread, `offsetNs` recorded nanoseconds after the replay's start.
    mutating func first(start: UInt64, offsetNs: Int64, stopped: () -> Bool) {
        let want = UInt64(max(0, (Double(offsetNs) * self.factor).rounded()))
        self.last = Self.until(start &+ want, stopped: stopped)
    }
}
