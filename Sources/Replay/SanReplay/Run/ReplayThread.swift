import CSanReplay
import CSanSupport

#if canImport(Glibc)
import Glibc
#endif

/// A pthread running a closure (the replay uses no Swift Concurrency: the threads it drives call
/// into providers that block and spin). `finished` turns true when the body returned, so a
/// caller can avoid joining a thread stuck inside a provider call.
final class ReplayThread: @unchecked Sendable {
    private var thread: pthread_t = 0
    private let body: () -> Void
    private let done: UnsafeMutablePointer<UInt32>
    private var joined = false

    init(name: String, _ body: @escaping () -> Void) {
        self.body = body
        self.done = .allocate(capacity: 1)
        self.done.initialize(to: 0)
        let box = Unmanaged.passRetained(self).toOpaque()
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        pthread_attr_setstacksize(&attr, 8 << 20)
        let rc = pthread_create(&self.thread, &attr, { raw in
            let me = Unmanaged<ReplayThread>.fromOpaque(raw!).takeRetainedValue()
            me.body()
            csan_replay_store_u32(me.done, 1)
            return nil
        }, box)
        pthread_attr_destroy(&attr)
        if rc != 0 {
            Unmanaged<ReplayThread>.fromOpaque(box).release()
            body()
            csan_replay_store_u32(self.done, 1)
            self.joined = true
        }
        _ = name
    }

    deinit { self.done.deallocate() }

    var finished: Bool { csan_replay_load_u32(self.done) != 0 }

    /// Joins the thread (call once it finished, or accept to block).
    func join() {
        guard !self.joined else { return }
        pthread_join(self.thread, nil)
        self.joined = true
    }

    /// Waits until the thread finished or `deadline` (monotonic ns) passed; joins it if it did.
    func join(until deadline: UInt64) -> Bool {
        while !self.finished {
            if csan_monotonic_ns() >= deadline { return false }
            usleep(2000)
        }
        self.join()
        return true
    }
}
