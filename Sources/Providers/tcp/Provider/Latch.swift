import CSanSupport
import Glibc

/// A one-shot gate a thread can sleep on (a blocking WSPConnect waiting for the handshake):
/// closed until ``open()``, then open for good. A futex on a word this class owns.
final class Latch: @unchecked Sendable {
    // The word is only accessed through the C atomics and futex calls below.
    private let word = UnsafeMutablePointer<UInt32>.allocate(capacity: 1)

    init() { self.word.initialize(to: 0) }
    deinit { self.word.deallocate() }

    func open() {
        csan_store_release_u32(self.word, 1)
        csan_futex_wake_u32(self.word)
    }

    var isOpen: Bool { csan_load_acquire_u32(self.word) == 1 }

    /// Sleeps until open.
    func wait() {
        while csan_load_acquire_u32(self.word) == 0 {
            _ = csan_futex_wait_u32(self.word, 0, -1)
        }
    }
}
