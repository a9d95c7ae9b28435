import CSanSupport
import SanTraceFormat
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A thread of a ``TraceRecorder``: its capture id and its own event counter. Use one per OS
/// thread (it is not synchronised).
public final class RecorderThread: @unchecked Sendable {
    public let id: UInt32
    var sequence: UInt64 = 0
    init(id: UInt32) { self.id = id }
}

/// A simple in-process multi-producer front end for a ``TraceWriter``, for tools that write
/// traces (the replayer recording itself, generators, tests): producers on any thread hand
/// events to a bounded queue; one drain thread appends them, cuts and commits segments, and
/// flushes on time, on request, on SIGINT/SIGTERM (after ``TraceExitHooks/installSignalFlush(waitMilliseconds:)``)
/// and at close.
///
/// No event is lost silently: when the queue is full a producer waits and the stall is counted;
/// with `lossy: true` it drops the event instead and counts the drop. Both counts go to the
/// trace's metadata (`stalls`, `drops`).
///
/// Unsafe code: a pthread mutex and condition variables in raw memory, a pthread drain thread.
public final class TraceRecorder: @unchecked Sendable {
    public let capacity: Int
    public let lossy: Bool
    private let writer: TraceWriter
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let notEmpty = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let notFull = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let drained = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    // Guarded by `mutex`.
    private var queue: [TraceEvent] = []
    private var stopping = false
    private var flushWanted: UInt64 = 0
    private var flushDone: UInt64 = 0
    private var stalls: UInt64 = 0
    private var drops: UInt64 = 0
    private var failure: Error?
    private var nextThread: UInt32 = 1
    private var thread = pthread_t()
    private var started = false
    private var closed = false
    private var lastSignalRequests: UInt32 = 0

    /// Starts the drain thread for `writer` (which the recorder owns from now on).
    public init(writer: TraceWriter, capacity: Int = 1 << 16, lossy: Bool = false) throws {
        self.writer = writer
        self.capacity = max(capacity, 1)
        self.lossy = lossy
        pthread_mutex_init(self.mutex, nil)
        for c in [self.notEmpty, self.notFull, self.drained] {
            var attr = pthread_condattr_t()
            pthread_condattr_init(&attr)
            pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
            pthread_cond_init(c, &attr)
            pthread_condattr_destroy(&attr)
        }
        self.queue.reserveCapacity(self.capacity)
        self.lastSignalRequests = TraceExitHooks.flushRequests
        let context = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&self.thread, nil, { ctx in
            let recorder = Unmanaged<TraceRecorder>.fromOpaque(ctx!).takeRetainedValue()
            recorder.drainLoop()
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<TraceRecorder>.fromOpaque(context).release()
            throw TraceStoreError.badPath("cannot start the drain thread: \(String(cString: strerror(rc)))")
        }
        self.started = true
    }

    deinit {
        pthread_mutex_destroy(self.mutex)
        for c in [self.notEmpty, self.notFull, self.drained] {
            pthread_cond_destroy(c)
            c.deallocate()
        }
        self.mutex.deallocate()
    }

    /// A new producer thread with the next capture id; its OS tid and name go to `threads`.
    public func makeThread(name: String? = nil) -> RecorderThread {
        self.lock()
        let id = self.nextThread
        self.nextThread += 1
        self.unlock()
        let t = RecorderThread(id: id)
        let tid = Self.osThreadID()
        self.enqueueControl { w in try w.registerThread(id, osTid: tid, name: name) }
        return t
    }

    /// Records one event from `thread` (call it only from that thread). `tsc` defaults to the
    /// TSC now. Blocks while the queue is full (counted as a stall) unless the recorder is lossy
    /// (then the event is dropped and counted).
    public func record(_ thread: RecorderThread, _ kind: EventKind, _ function: FunctionID, fields: [FieldValue],
                       tsc: UInt64 = csan_rdtsc()) {
        thread.sequence += 1
        let e = TraceEvent(kind: kind, function: function, thread: thread.id, threadSeq: thread.sequence, tsc: tsc,
                           fields: fields)
        self.lock()
        if self.queue.count >= self.capacity && !self.stopping {
            if self.lossy {
                self.drops += 1
                self.unlock()
                return
            }
            self.stalls += 1
            while self.queue.count >= self.capacity && !self.stopping { pthread_cond_wait(self.notFull, self.mutex) }
        }
        if self.stopping {
            self.drops += 1
        } else {
            let wasEmpty = self.queue.isEmpty
            self.queue.append(e)
            if wasEmpty { pthread_cond_signal(self.notEmpty) }
        }
        self.unlock()
    }

    /// Commits everything recorded so far (waits for the drain thread).
    public func flush() throws {
        self.lock()
        self.flushWanted += 1
        let ticket = self.flushWanted
        pthread_cond_signal(self.notEmpty)
        while self.flushDone < ticket && self.failure == nil && !self.closed { pthread_cond_wait(self.drained, self.mutex) }
        let f = self.failure
        self.unlock()
        if let f { throw f }
    }

    /// Stops the drain thread after it has appended everything queued, and closes the trace.
    public func close() throws {
        self.lock()
        if self.closed {
            self.unlock()
            return
        }
        self.stopping = true
        pthread_cond_broadcast(self.notEmpty)
        pthread_cond_broadcast(self.notFull)
        self.unlock()
        if self.started { pthread_join(self.thread, nil) }
        self.lock()
        self.closed = true
        pthread_cond_broadcast(self.drained)
        let f = self.failure
        self.unlock()
        if let f { throw f }
    }

    /// Producer stalls and drops so far.
    public var backpressure: (stalls: UInt64, drops: UInt64) {
        self.lock()
        defer { self.unlock() }
        return (self.stalls, self.drops)
    }

    // MARK: Drain thread

    private var controls: [(TraceWriter) throws -> Void] = []

    private func enqueueControl(_ body: @escaping (TraceWriter) throws -> Void) {
        self.lock()
        self.controls.append(body)
        pthread_cond_signal(self.notEmpty)
        self.unlock()
    }

    private func drainLoop() {
        var batch: [TraceEvent] = []
        batch.reserveCapacity(self.capacity)
        var reportedStalls: UInt64 = 0, reportedDrops: UInt64 = 0
        while true {
            self.lock()
            while self.queue.isEmpty && self.controls.isEmpty && !self.stopping && self.flushWanted == self.flushDone
                    && TraceExitHooks.flushRequests == self.lastSignalRequests {
                var deadline = timespec()
                clock_gettime(CLOCK_MONOTONIC, &deadline)
                deadline.tv_nsec += 20_000_000
                if deadline.tv_nsec >= 1_000_000_000 {
                    deadline.tv_sec += 1
                    deadline.tv_nsec -= 1_000_000_000
                }
                if pthread_cond_timedwait(self.notEmpty, self.mutex, &deadline) == ETIMEDOUT { break }
            }
            swap(&batch, &self.queue)
            let controls = self.controls
            self.controls.removeAll()
            let stopping = self.stopping
            let flushTicket = self.flushWanted
            let stalls = self.stalls, drops = self.drops
            pthread_cond_broadcast(self.notFull)
            self.unlock()

            do {
                for c in controls { try c(self.writer) }
                self.writer.noteBackpressure(stalls: stalls - reportedStalls, drops: drops - reportedDrops)
                reportedStalls = stalls
                reportedDrops = drops
                for e in batch { try self.writer.append(e) }
                batch.removeAll(keepingCapacity: true)
                let signals = TraceExitHooks.flushRequests
                if signals != self.lastSignalRequests {
                    try self.writer.flush()
                    self.lastSignalRequests = signals
                    TraceExitHooks.acknowledgeFlush()
                } else if flushTicket != self.flushDone {
                    try self.writer.flush()
                } else {
                    try self.writer.flushIfDue()
                }
                if stopping {
                    self.lock()
                    let rest = self.queue
                    self.queue.removeAll()
                    self.unlock()
                    for e in rest { try self.writer.append(e) }
                    self.lock()
                    let (finalStalls, finalDrops) = (self.stalls, self.drops)
                    self.unlock()
                    self.writer.noteBackpressure(stalls: finalStalls - reportedStalls, drops: finalDrops - reportedDrops)
                    try self.writer.close()
                }
            } catch {
                self.lock()
                if self.failure == nil { self.failure = error }
                self.stopping = true
                self.unlock()
            }
            self.lock()
            self.flushDone = flushTicket
            pthread_cond_broadcast(self.drained)
            // Done once a pass ran with `stopping` seen at its start (it drained the queue and
            // closed the writer), or after a failure. A stop requested during this pass gets one
            // more pass, which takes what producers queued meanwhile.
            let failed = self.failure != nil
            self.unlock()
            if stopping || failed {
                if failed { try? self.writer.close() }
                return
            }
        }
    }

    /// The kernel's id of the calling thread, from /proc/thread-self ("PID/task/TID").
    static func osThreadID() -> Int64 {
        var buf = [CChar](repeating: 0, count: 64)
        let n = readlink("/proc/thread-self", &buf, 63)
        guard n > 0 else { return Int64(getpid()) }
        let text = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return text.split(separator: "/").last.flatMap { Int64($0) } ?? Int64(getpid())
    }

    private func lock() { pthread_mutex_lock(self.mutex) }
    private func unlock() { pthread_mutex_unlock(self.mutex) }
}
