import Glibc

/// Plain pthreads (providers run inside traced processes: no Swift Concurrency, no Foundation).
enum VerbsThread {
    private final class Box {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    /// Starts a thread running `body`; nil if the system refused (the caller reports WSAENOBUFS).
    static func spawn(_ body: @escaping @Sendable () -> Void) -> pthread_t? {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { arg in
            let box = Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue()
            box.body()
            return nil
        }, box)
        guard rc == 0 else {
            Unmanaged<Box>.fromOpaque(box).release()
            return nil
        }
        return tid
    }

    static func join(_ tid: pthread_t) { _ = pthread_join(tid, nil) }
}

/// The provider's diagnostics: one line on stderr, prefixed `san_verbs:`, written with one
/// write(2) so lines from several threads do not interleave.
enum VerbsLog {
    static func line(_ text: String) {
        let bytes = Array("san_verbs: \(text)\n".utf8)
        bytes.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
    }
}
