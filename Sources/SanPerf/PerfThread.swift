#if canImport(Glibc)
import Glibc
#endif

/// A plain pthread running one closure, joined for its result. sanperf's loopback mode runs the
/// server end on one (no Swift Concurrency: the measured loops must not hop executors).
final class PerfThread<T>: PerfThreadBody, @unchecked Sendable {
    private let body: () -> T
    private var result: T?
    private var thread = pthread_t()

    /// Starts `body` on a new thread.
    init(_ body: @escaping () -> T) {
        self.body = body
        super.init()
        let context = Unmanaged<PerfThreadBody>.passRetained(self).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, perfThreadEntry, context)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        self.thread = tid
    }

    override func main() { self.result = self.body() }

    /// Waits for the thread and returns what `body` returned.
    func join() -> T {
        pthread_join(self.thread, nil)
        return self.result!
    }
}

/// The non-generic part the C entry point can call.
class PerfThreadBody {
    func main() {}
}

private func perfThreadEntry(_ raw: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    Unmanaged<PerfThreadBody>.fromOpaque(raw!).takeRetainedValue().main()
    return nil
}
