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
/// went out already, and what its last byte finishes.
struct TxItem: Sendable {
    var prologue: PrologueBytes
    let segments: [SanBufferSegment]
    let total: Int
    var written = 0
    /// What the last byte handed to the kernel finishes (sends only: an RDMA write finishes when
    /// acknowledged, a read when its response landed).
    var finishes = TxFinish.nothing
    /// A send issued after an RDMA read waits until that read completed (`readsCompleted >=
    /// fence`): it may be the "done" message that lets the peer deregister the source (reference
    /// §1.7, IBSP fences the same way). Zero: no fence.
    let fence: UInt64
    /// The registered region a read response reads from (checked live at every write).
    let region: RdmaRegion?

    init(_ frame: Frame, segments: [SanBufferSegment] = [], fence: UInt64 = 0, region: RdmaRegion? = nil) {
        self.prologue = PrologueBytes(frame)
        self.segments = segments
        self.total = self.prologue.count + Int(frame.dataLength)
        self.fence = fence
        self.region = region
    }
}

/// What a frame's last byte handed to the kernel finishes.
enum TxFinish: Sendable {
    case nothing
    /// A send behind unfinished operations: its send-queue entry.
    case entry(UInt64)
    /// A send posted while the send queue was empty: nothing posted before it is unfinished and
    /// everything posted after it finishes later (after it on the wire), so it completes right
    /// away, without an entry.
    case completion(PendingOp, bytes: UInt32)
}

/// The transmit side: the application's frames in issue order, read responses (which never
/// wait behind a fenced send: two peers each fencing a send behind the other's response would
/// otherwise deadlock), and the acknowledgement of RDMA writes placed here, which goes before
/// anything else at the next frame boundary. Frames are never interleaved: `current` is the lane
/// whose head is partly written.
struct TxState: Sendable {
    enum Lane: Sendable { case ack, app, responses }
    var app = FIFO<TxItem>()
    var responses = FIFO<TxItem>()
    /// An ACK being written (it went out partly).
    var ack: TxItem?
    /// The highest write count an ACK announced (or is announcing).
    var ackSent: UInt64 = 0
    var current: Lane?
    /// No application frame goes out any more (the connection ended).
    var dead = false
    /// The connection's last control frames (CLOSE or ABORT) were written or given up.
    var ended = false
}

/// What a new application frame adds to the send queue.
enum SendQueueEntry {
    /// A WSPSend: finished when handed to the kernel.
    case send(PendingOp, bytes: UInt32)
    /// A WSPRdmaWrite: finished when the target acknowledges it.
    case write(PendingOp, bytes: UInt32)
    /// A WSPRdmaRead: finished when its response landed; the frame's tag is the entry id.
    case read(ReadOp, RdmaRequest)
}

extension Connection {
    /// Queues an application frame (nil for a read: its READ_REQUEST is built here, tagged with
    /// its send-queue entry) with its send-queue entry and writes as much as the socket
    /// takes right now, from the calling thread (the common case of an empty queue costs one
    /// sendmsg). Returns the connection's terminal error instead when it has ended (nothing was
    /// queued then).
    func submit(_ item: TxItem?, _ entry: SendQueueEntry) -> WSAError? {
        var done: [Completion] = []
        var failure: Int32?
        var item = item ?? TxItem(.close)
        let refused: Bool = self.tx.withLock { t in
            guard !t.dead else { return true }
            // Entries are added under the transmit lock: ids, write numbers and wire order agree.
            self.sendQueue.withLock { q in
                switch entry {
                case .send(let op, let bytes):
                    item.finishes = q.isEmpty ? .completion(op, bytes: bytes) : .entry(q.append(op, bytes: bytes))
                case .write(let op, let bytes):
                    _ = q.appendWrite(op, bytes: bytes)
                case .read(let read, let request):
                    let tag = q.append(read.op, bytes: read.length)
                    q.reads[tag] = read
                    item = TxItem(.readRequest(request, tag: tag))
                    self.readsIssued.add(1, ordering: .releasing)
                }
            }
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
                          segments: [SanBufferSegment(address: address, length: length, handle: 0)], region: region)
        self.tx.withLock { t in
            guard !t.dead else { return }
            t.responses.append(item)
        }
    }

    /// Writes what the socket takes (EPOLLOUT, a lifted fence, a queued response, a due ACK).
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
    /// (a receive owner reports them once it let go). Returns an errno when the connection
    /// failed; the caller passes it to ``afterFlush(_:_:)`` after letting go.
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

    /// The next whole frame that may go out: responses first, then the application's frames
    /// unless the head is fenced behind an unfinished read.
    private func nextFrameLane(_ t: TxState) -> TxState.Lane? {
        if !t.responses.isEmpty { return .responses }
        if let head = t.app.first, head.fence <= self.readsCompleted.load(ordering: .acquiring) { return .app }
        return nil
    }

    private func head(_ t: TxState, _ lane: TxState.Lane) -> TxItem? {
        switch lane {
        case .ack: return t.ack
        case .app: return t.app.first
        case .responses: return t.responses.first
        }
    }

    /// Puts a lane's head back after a write: popped when all of it went out (and what it
    /// finishes finished), kept as the partly written frame otherwise.
    private func store(_ item: TxItem, _ lane: TxState.Lane, _ t: inout TxState, _ done: inout [Completion]) {
        guard item.written == item.total else {
            if item.written > 0 { t.current = lane }
            switch lane {
            case .ack: t.ack = item
            case .app: _ = t.app.withFirst { $0 = item }
            case .responses: _ = t.responses.withFirst { $0 = item }
            }
            return
        }
        self.popHead(lane, &t)
        self.finished(item.finishes, &done)
    }

    private func popHead(_ lane: TxState.Lane, _ t: inout TxState) {
        if t.current == lane { t.current = nil }
        switch lane {
        case .ack: t.ack = nil
        case .app: _ = t.app.popFirst()
        case .responses: _ = t.responses.popFirst()
        }
    }

    /// A frame went out whole: its send finishes.
    private func finished(_ what: TxFinish, _ done: inout [Completion]) {
        switch what {
        case .nothing:
            break
        case .entry(let id):
            self.sendQueue.withLock { q in
                q.markFinished(id)
                q.takeFinished(into: &done, gate: self.context.gate)
            }
        case .completion(let op, let bytes):
            self.context.gate.enter()
            done.append(Completion(op: op, error: nil, bytes: bytes))
        }
    }

    /// The common case of ``flushLocked(_:_:)``: nothing partly written, no ACK due, the head of
    /// `lane` written in place (no copy of the item).
    private func writeHead(_ lane: TxState.Lane, _ t: inout TxState, _ done: inout [Completion]) -> IOResult {
        let outcome: (IOResult, whole: Bool, partly: Bool, TxFinish)?
        switch lane {
        case .app: outcome = t.app.withFirst { self.writeInPlace(&$0) }
        case .responses: outcome = t.responses.withFirst { self.writeInPlace(&$0) }
        case .ack: outcome = nil
        }
        guard let outcome else { return .wouldBlock }
        if outcome.whole {
            self.popHead(lane, &t)
            self.finished(outcome.3, &done)
        } else if outcome.partly {
            t.current = lane
        }
        return outcome.0
    }

    /// Writes queued frames until the socket is full or nothing may go. A partly written frame
    /// goes first; then a due ACK (the number of RDMA writes placed here went up), in the same
    /// sendmsg as the next frame when there is one (piggy-backed); then responses and the
    /// application's frames. Finished sends are appended to `done` (counted into the upcall
    /// gate). Returns an errno when the connection failed (-1: a read response's region was
    /// revoked mid-frame).
    private func flushLocked(_ t: inout TxState, _ done: inout [Completion]) -> Int32? {
        var failure: Int32?
        while failure == nil {
            if t.current == nil && t.ack == nil {
                let placed = self.placedWrites.load(ordering: .acquiring)
                if placed > t.ackSent {
                    t.ack = TxItem(.ack(placed: placed))
                    t.ackSent = placed
                }
            }
            let result: IOResult
            if t.current == nil && t.ack == nil {
                guard let lane = self.nextFrameLane(t) else { break }
                result = self.writeHead(lane, &t, &done)
            } else {
                // A partly written frame, or an ACK with the next frame behind it.
                let firstLane = t.current ?? .ack
                let secondLane = t.current == nil ? self.nextFrameLane(t) : nil
                var first = self.head(t, firstLane)!
                var second = secondLane.flatMap { self.head(t, $0) }
                result = self.writeSome(&first, &second)
                self.store(first, firstLane, &t, &done)
                if let secondLane, let second { self.store(second, secondLane, &t, &done) }
            }
            switch result {
            case .done:
                if t.current != nil { break }  // partly written: the socket is full
                continue
            case .wouldBlock: break
            case .endOfStream: failure = ECONNRESET
            case .failed(let e): failure = e
            }
            break
        }
        self.txPending.store(t.current != nil || t.ack != nil || self.nextFrameLane(t) != nil, ordering: .releasing)
        return failure
    }

    /// Drops every queued frame (the connection ended) and returns the sends that complete
    /// without a send-queue entry, to be failed with the rest. `current` stays: the stream is no
    /// longer at a frame boundary if it was not. Caller holds the tx lock.
    func dropTransmit(_ t: inout TxState) -> [PendingOp] {
        t.dead = true
        t.ack = nil
        _ = t.responses.drain()
        return t.app.drain().compactMap { item in
            if case .completion(let op, _) = item.finishes { return op }
            return nil
        }
    }
}
