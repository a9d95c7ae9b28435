#if canImport(Glibc)
import Glibc
#endif

/// A joinable pthread running a closure (the libraries use no Foundation). Unsafe code: passes
/// the closure through pthread_create's context pointer.
final class Thread {
    private var handle = pthread_t()

    private init() {}

    /// Starts `body` on a new thread.
    static func start(_ body: @escaping () -> Void) throws -> Thread {
        let t = Thread()
        final class Box {
            let body: () -> Void
            init(_ body: @escaping () -> Void) { self.body = body }
        }
        let context = Unmanaged.passRetained(Box(body)).toOpaque()
        let rc = pthread_create(&t.handle, nil, { p in
            Unmanaged<Box>.fromOpaque(p!).takeRetainedValue().body()
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<Box>.fromOpaque(context).release()
            throw TraceStoreError.badPath("cannot start a thread: \(String(cString: strerror(rc)))")
        }
        return t
    }

    func join() { pthread_join(self.handle, nil) }
}
