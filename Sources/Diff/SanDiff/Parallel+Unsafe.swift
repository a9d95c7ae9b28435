import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Runs `count` jobs on up to `width` threads (the calling thread is one of them) and returns
/// their results in job order. The libraries use no Foundation or Swift Concurrency: plain
/// pthreads. Unsafe code: passes the worker closure through pthread_create's context pointer.
public func parallelMap<T>(_ count: Int, width: Int = 2, _ job: (Int) throws -> T) throws -> [T] {
    if count == 0 { return [] }
    let results = ResultSlots<T>(count)
    let nextJob = Atomic<Int>(0)
    withoutActuallyEscaping(job) { job in
        let worker = {
            while true {
                let i = nextJob.add(1, ordering: .relaxed).oldValue
                if i >= count { return }
                do { results.set(i, .success(try job(i))) } catch { results.set(i, .failure(error)) }
            }
        }
        var threads: [pthread_t] = []
        for _ in 1..<max(1, min(width, count)) {
            if let t = startThread(worker) { threads.append(t) }
        }
        worker()
        for t in threads { pthread_join(t, nil) }
    }
    return try results.values()
}

/// Result slots written by the workers (each slot by one worker; read after the joins).
private final class ResultSlots<T>: @unchecked Sendable {
    private var slots: [Result<T, Error>?]
    private let lock = Mutex(())
    init(_ n: Int) { self.slots = Array(repeating: nil, count: n) }
    func set(_ i: Int, _ r: Result<T, Error>) { self.lock.withLock { _ in self.slots[i] = r } }
    func values() throws -> [T] { try self.slots.map { try $0!.get() } }
}

private final class Box {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}

private func startThread(_ body: @escaping () -> Void) -> pthread_t? {
    var handle = pthread_t()
    let context = Unmanaged.passRetained(Box(body)).toOpaque()
    let rc = pthread_create(&handle, nil, { p in
        Unmanaged<Box>.fromOpaque(p!).takeRetainedValue().body()
        return nil
    }, context)
    guard rc == 0 else {
        Unmanaged<Box>.fromOpaque(context).release()
        return nil  // the calling thread does the work alone
    }
    return handle
}
