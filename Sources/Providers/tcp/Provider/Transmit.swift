import Glibc
import SanCore
import SanProviderKit

/// A frame prologue stored inline (no allocation per operation): up to 88 bytes.
struct PrologueBytes: Sendable {
    private var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    let count: Int

    init(_ frame: Frame) {
        var w = self.words
        self.count = withUnsafeMutableBytes(of: &w) { frame.encode(into: $0.baseAddress!) }
        self.words = w
    }

    /// Lends the bytes for the duration of `body` (do not keep the pointer).
    mutating func withBytes<R>(_ body: (UnsafeRawPointer) -> R) -> R {
        withUnsafeBytes(of: &self.words) { body($0.baseAddress!) }
    }
}

/// One frame waiting to be written: its prologue, the memory its data comes from, how much of it
/// went out already, and what to report when all of it did.
struct TxItem: Sendable {
    var prologue: PrologueBytes
    let segments: [SanBufferSegment]
    let total: Int
    var written = 0
    /// Reported when the last byte is handed to the kernel (sends and RDMA writes).
    let op: PendingOp?
    /// A send issued after an RDMA read waits until that read completed (`readsCompleted >=
    /// fence`): it may be the "done" message that lets the peer deregister the source (reference
    /// §1.7, IBSP fences the same way). Zero: no fence.
    let fence: UInt64
    /// The registered region a read response reads from (checked live at every write).
    let region: RdmaRegion?

    init(_ frame: Frame, segments: [SanBufferSegment], op: PendingOp?, fence: UInt64 = 0, region: RdmaRegion? = nil) {
        self.prologue = PrologueBytes(frame)
        self.segments = segments
        self.total = self.prologue.count + Int(frame.dataLength)
        self.op = op
        self.fence = fence
        self.region = region
    }
}

/// The transmit side: the application's frames in issue order, and read responses (which never
/// wait behind a fenced send: two peers each fencing a send behind the other's response would
/// otherwise deadlock). Frames are never interleaved: `current` is the lane whose head is
/// partly written.
struct TxState: Sendable {
    enum Lane: Sendable { case app, responses }
    var app = FIFO<TxItem>()
    var responses = FIFO<TxItem>()
    var current: Lane?
    var dead = false
}

extension Connection {
    /// Queues an application frame and writes as much as the socket takes right now, from the
    /// calling thread (the common case of an empty queue costs one sendmsg). Returns the
    /// connection's terminal error instead when it has ended (nothing was queued then).
    func submit(_ item: TxItem) -> WSAError? {
        var done: [Completion] = []
        var failure: Int32?
        let refused: Bool = self.tx.withLock { t in
            guard !t.dead else { return true }
            t.app.append(item)
            failure = self.flushLocked(&t, &done)
            return false
        }
        if refused { return self.terminalError ?? .notConnected }
        self.afterFlush(done, failure)
        return nil
    }

    /// Queues a read response (receive owner, while serving a READ_REQUEST).
    func queueResponse(tag: UInt64, address: UInt, length: UInt32, region: RdmaRegion) {
        let item = TxItem(.readResponse(tag: tag, length: length),
                          segments: [SanBufferSegment(address: address, length: length, handle: 0)], op: nil,
                          region: region)
        self.tx.withLock { t in
            guard !t.dead else { return }
            t.responses.append(item)
        }
    }

    /// Writes what the socket takes (EPOLLOUT, a lifted fence, a queued response).
    func flush() {
        var done: [Completion] = []
        var failure: Int32?
        self.tx.withLock { t in
            guard !t.dead else { return }
            failure = self.flushLocked(&t, &done)
        }
        self.afterFlush(done, failure)
    }

    /// Writes what the socket takes and hands back the completions instead of reporting them
    /// (a waiter that owns the receive side reports them once it let go). Returns an errno when
    /// the connection failed; the caller passes it to ``afterFlush(_:_:)`` after letting go.
    func flushCollecting(_ done: inout [Completion]) -> Int32? {
        self.tx.withLock { t in t.dead ? nil : self.flushLocked(&t, &done) }
    }

    func afterFlush(_ done: [Completion], _ failure: Int32?) {
        if let failure {
            self.terminate(failure == Int32(-1) ? .connectionAborted : sanWSAError(errno: failure),
                           abort: failure == Int32(-1) ? .revokedInFlight : nil)
        }
        self.rearm()
        self.deliver(done)
    }

    /// The next frame that may go out: a partly written one first, then responses, then the
    /// application's frames unless the head is fenced behind an unfinished read.
    private func nextLane(_ t: TxState) -> TxState.Lane? {
        if let c = t.current { return c }
        if !t.responses.isEmpty { return .responses }
        if let head = t.app.first, head.fence <= self.readsCompleted.load(ordering: .acquiring) { return .app }
        return nil
    }

    /// Writes queued frames until the socket is full or nothing may go. Completed application
    /// frames are appended to `done` (counted into the upcall gate). Returns an errno when the
    /// connection failed (-1: a read response's region was revoked mid-frame).
    private func flushLocked(_ t: inout TxState, _ done: inout [Completion]) -> Int32? {
        var failure: Int32?
        while let lane = self.nextLane(t) {
            var result = IOResult.wouldBlock
            var finished: TxItem?
            let step: (inout TxItem) -> Void = { item in
                result = self.writeSome(&item)
                if case .done(let n) = result {
                    item.written += n
                    if item.written == item.total { finished = item }
                }
            }
            switch lane {
            case .app: _ = t.app.withFirst(step)
            case .responses: _ = t.responses.withFirst(step)
            }
            if finished != nil {
                switch lane {
                case .app: _ = t.app.popFirst()
                case .responses: _ = t.responses.popFirst()
                }
                t.current = nil
                if let op = finished!.op {
                    self.context.gate.enter()
                    done.append(Completion(op: op, error: nil, bytes: UInt32(finished!.total - finished!.prologue.count)))
                }
                continue
            }
            switch result {
            case .done:
                t.current = lane  // partly written: the socket is full
            case .wouldBlock:
                break
            case .endOfStream:
                failure = ECONNRESET
            case .failed(let e):
                failure = e
            }
            break
        }
        self.txPending.store(t.current != nil || self.nextLane(t) != nil, ordering: .releasing)
        return failure
    }

    /// One sendmsg of the rest of `item`.
    private func writeSome(_ item: inout TxItem) -> IOResult {
        let written = item.written
        let segments = item.segments
        let region = item.region
        let fd = self.fd.raw
        let plen = item.prologue.count
        return item.prologue.withBytes { prologue -> IOResult in
            withUnsafeTemporaryAllocation(of: iovec.self, capacity: segments.count + 1) { iovs -> IOResult in
                let iov = iovs.baseAddress!
                var count = 0
                var skip = written
                if skip < plen {
                    iov[0] = iovec(iov_base: UnsafeMutableRawPointer(mutating: prologue + skip), iov_len: plen - skip)
                    count = 1
                    skip = 0
                } else {
                    skip -= plen
                }
                for seg in segments where seg.length > 0 {
                    let len = Int(seg.length)
                    if skip >= len {
                        skip -= len
                        continue
                    }
                    iov[count] = iovec(iov_base: UnsafeMutableRawPointer(bitPattern: seg.address &+ UInt(skip)),
                                       iov_len: len - skip)
                    count += 1
                    skip = 0
                }
                if let region {
                    return region.withLive { _ in Sys.writev(fd, iov, count) } ?? .failed(-1)
                }
                return Sys.writev(fd, iov, count)
            }
        }
    }

    /// Fails every queued frame (the connection ended). Caller holds the tx lock.
    func drainTransmit(_ t: inout TxState, error: WSAError) -> [Completion] {
        t.current = nil
        _ = t.responses.drain()
        return t.app.drain().compactMap { item in
            guard let op = item.op else { return nil }
            self.context.gate.enter()
            return Completion(op: op, error: error, bytes: 0)
        }
    }

    /// Writes a small control frame (ABORT, CLOSE) at a frame boundary, best effort: the peer
    /// learns why the connection ends if the socket has room. Caller holds the tx lock.
    func writeControl(_ frame: Frame) {
        var prologue = PrologueBytes(frame)
        let count = prologue.count
        _ = prologue.withBytes { Sys.write(self.fd.raw, $0, count) }
    }
}
