import Glibc
import SanCore
import SanProviderKit

/// The receive side of a connection: a state machine fed by reads of the socket, run only by the
/// receive owner. Frame prologues (and small payloads) go through a staging buffer; payloads are
/// read straight into their destination — the posted receive's buffers, the registered target
/// memory of an RDMA write, the local sink of a read response — with one readv whose last iovec
/// is the staging buffer, so the next prologue usually comes with the same system call.
final class ReceiveMachine: @unchecked Sendable {
    // Touched only by the receive owner (Connection.rxOwner hands it over with acquire/release).
    let staging: UnsafeMutableRawPointer
    let capacity: Int
    var head = 0
    var tail = 0
    var state = ReceiveState.prologue
    /// A CLOSE frame arrived: the end of stream that follows is orderly.
    var peerClosing = false
    /// The receive side has been failed; nothing is read any more.
    var dead = false
    /// The last read returned fewer bytes than it had room for.
    var shortRead = false
    /// RDMA_WRITE frames received so far: the sequence number of the current one (an ABORT
    /// names a refused write by it).
    var writesSeen: UInt64 = 0
    /// `placedWrites` when this side last asked the transmit side to acknowledge.
    var ackRequested: UInt64 = 0

    init(capacity: Int) {
        self.capacity = max(capacity, Frame.maxPrologueSize * 2)
        self.staging = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 16)
    }

    deinit { self.staging.deallocate() }

    var staged: Int { self.tail - self.head }
}

enum ReceiveState {
    case prologue
    case data(Sink, remaining: Int)
}

/// Where the data bytes of the current frame go.
enum Sink {
    /// A posted receive; bytes beyond its room are dropped and it completes with WSAEMSGSIZE.
    case receive(ScatterCursor, length: UInt32)
    /// A private buffer for a message that arrived before a receive was posted.
    case early(EarlyMessage, filled: Int)
    /// Registered target memory (an incoming RDMA write).
    case region(RdmaRegion, address: UInt)
    /// The local buffers of one of our reads.
    case read(tag: UInt64, ScatterCursor)
    /// Bytes nobody wants (the tail of a too-long message).
    case discard
}

/// What a receive pass leaves to do once ownership is released.
struct ReceiveEffects {
    var completions: [Completion] = []
    /// A read response was queued or a fence lifted: the transmit queue may move.
    var flush = false
    /// RDMA writes were placed: an ACK is due. It goes out after the completions are reported
    /// (``Connection/apply(_:)``), or before the owner sleeps in a read again: never between a
    /// message's arrival and its receive's completion.
    var ackDue = false
    /// A write failed with this errno (reported once ownership is released).
    var txFailure: Int32?
}

enum ReceiveOutcome {
    /// The socket has nothing more for now.
    case drained
    /// The pass used its budget; more may be waiting.
    case yielded
    /// A message is waiting for a receive to be posted (early-message buffer full).
    case stalled
    /// The connection ended.
    case finished
    /// An operation completed and the caller asked to stop there.
    case completed
}

extension Connection {
    /// Smallest payload rest read directly into its destination instead of through staging.
    private static let directMinimum = 256

    /// One receive pass: consume what is staged, read more, repeat until the socket is drained,
    /// `budget` reads were made, a message stalls, or the connection ends. Caller owns receive.
    /// With `stopAtCompletion` (a waiter) the pass ends as soon as an operation completed, so
    /// the waiter does not pay for one more read that finds nothing.
    /// With `blockFirst` (a waiter with nothing else to do) the first read sleeps in the kernel
    /// until data arrives or the socket's receive timeout passes (`.drained` then).
    /// The RDMA writes a pass placed are acknowledged once per pass (one cumulative ACK, see
    /// `ReceiveEffects.ackDue`); a blocking pass first sends the ACK an earlier one left due.
    func receive(budget: Int, stopAtCompletion: Bool = false, blockFirst: Bool = false,
                 _ fx: inout ReceiveEffects) -> ReceiveOutcome {
        if blockFirst && fx.ackDue {
            fx.ackDue = false
            if let e = self.flushCollecting(&fx.completions) { fx.txFailure = e }
        }
        let outcome = self.receivePass(budget: budget, stopAtCompletion: stopAtCompletion, blockFirst: blockFirst, &fx)
        let m = self.machine
        let placed = self.placedWrites.load(ordering: .relaxed)
        if placed > m.ackRequested && !m.dead {
            m.ackRequested = placed
            fx.ackDue = true
        }
        return outcome
    }

    private func receivePass(budget: Int, stopAtCompletion: Bool, blockFirst: Bool,
                             _ fx: inout ReceiveEffects) -> ReceiveOutcome {
        let m = self.machine
        let before = fx.completions.count
        var reads = 0
        m.shortRead = false  // a hint about this pass's own reads only
        while true {
            if m.dead { return .finished }
            if self.isDead {
                self.finishReceiveSide(&fx)
                return .finished
            }
            switch self.consumeStaged(m, &fx) {
            case .drained, .yielded, .completed: break
            case .stalled:
                guard self.liftBudgetIfPeerEnded() else { return .stalled }
                continue
            case .finished: return .finished
            }
            if stopAtCompletion && fx.completions.count > before { return .completed }
            if m.shortRead {
                // The last read got less than it asked for: the socket is empty now, almost
                // always. Level-triggered epoll (or the waiter's next read) covers the rest, and
                // the read that would only find EAGAIN is saved.
                m.shortRead = false
                return .drained
            }
            if reads >= budget { return .yielded }
            let result = self.readMore(m, blocking: blockFirst && reads == 0, &fx)
            reads += 1
            switch result {
            case .done: continue
            case .wouldBlock: return .drained
            case .endOfStream:
                self.end(m.peerClosing ? .disconnected : .connectionReset, &fx)
                return .finished
            case .failed(let e):
                self.end(sanWSAError(errno: e), &fx)
                return .finished
            }
        }
    }

    /// A message waits for a receive and the early-message budget is spent. If the peer can
    /// send nothing more, what is left of the stream is bounded by the socket buffer: read it all
    /// (beyond the budget) so the end is noticed — pending operations fail now instead of when
    /// the application posts a receive. True when the budget was lifted. The peer's end is seen
    /// only once the bytes before its FIN fit in this socket's receive buffer: a peer that closed
    /// with more than that still unsent stays stalled until a receive is posted (the memory bound
    /// of the early-message budget holds).
    private func liftBudgetIfPeerEnded() -> Bool {
        guard Sys.peerEnded(self.fd.raw) else { return false }
        self.state.withLock { $0.budgetLifted = true }
        self.rxStalled.store(false, ordering: .releasing)
        return true
    }

    /// The end seen from the receive side (end of stream, socket error, peer abort, violation).
    func end(_ error: WSAError, abort reason: WireError? = nil, refused: RefusedFrame? = nil,
             _ fx: inout ReceiveEffects) {
        self.terminate(error, abort: reason, refused: refused)
        self.finishReceiveSide(&fx)
    }

    /// A peer broke the protocol or asked for what it may not: refuse, tell it why (naming the
    /// frame when it is one of its requests), abort the connection.
    func violation(_ reason: WireError, refused: RefusedFrame? = nil, _ fx: inout ReceiveEffects) -> ReceiveOutcome {
        self.end(.connectionAborted, abort: reason, refused: refused, &fx)
        return .finished
    }

    /// The RDMA write whose data is arriving now, as an ABORT names it.
    var currentWrite: RefusedFrame { RefusedFrame(type: .rdmaWrite, id: self.machine.writesSeen) }

    // MARK: Staged bytes

    private func consumeStaged(_ m: ReceiveMachine, _ fx: inout ReceiveEffects) -> ReceiveOutcome {
        while m.head < m.tail {
            switch m.state {
            case .prologue:
                let p = m.staging + m.head
                let size: Int
                switch Frame.prologueSize(firstByte: p.load(as: UInt8.self)) {
                case .success(let s): size = s
                case .failure(let e): return self.violation(e, &fx)
                }
                guard m.staged >= size else { return .drained }
                let frame: Frame
                switch Frame.decode(UnsafeRawBufferPointer(start: p, count: size)) {
                case .success(let f): frame = f
                case .failure(let e): return self.violation(e, &fx)
                }
                switch self.begin(frame, m, &fx) {
                case .drained, .yielded, .completed: break
                case .stalled: return .stalled
                case .finished: return .finished
                }
                m.head += size
                if case .data(let sink, 0) = m.state {
                    m.state = .prologue
                    self.finish(sink, &fx)
                }
            case .data(var sink, let remaining):
                let n = min(remaining, m.staged)
                guard self.place(&sink, from: m.staging + m.head, count: n) else {
                    return self.violation(.revokedInFlight, refused: self.currentWrite, &fx)
                }
                m.head += n
                if remaining == n {
                    m.state = .prologue
                    self.finish(sink, &fx)
                } else {
                    m.state = .data(sink, remaining: remaining - n)
                }
            }
            if m.dead { return .finished }
        }
        m.head = 0
        m.tail = 0
        return .drained
    }

    /// Copies staged bytes into the sink.
    private func place(_ sink: inout Sink, from source: UnsafeRawPointer, count: Int) -> Bool {
        switch sink {
        case .receive(var cursor, let length):
            cursor.copy(from: source, count: min(count, cursor.remaining))
            sink = .receive(cursor, length: length)
        case .early(let message, let filled):
            (message.bytes + filled).copyMemory(from: source, byteCount: count)
            sink = .early(message, filled: filled + count)
        case .region(let region, let address):
            let ok = region.withLive { _ in
                UnsafeMutableRawPointer(bitPattern: address)!.copyMemory(from: source, byteCount: count)
            } != nil
            guard ok else { return false }
            sink = .region(region, address: address + UInt(count))
        case .read(let tag, var cursor):
            cursor.copy(from: source, count: count)
            sink = .read(tag: tag, cursor)
        case .discard:
            break
        }
        return true
    }

    // MARK: Reading

    private func readMore(_ m: ReceiveMachine, blocking: Bool, _ fx: inout ReceiveEffects) -> IOResult {
        if m.head > 0 {
            // Only a partial prologue can be left here: move it to the front.
            m.staging.copyMemory(from: m.staging + m.head, byteCount: m.staged)
            m.tail = m.staged
            m.head = 0
        }
        if case .data(var sink, let remaining) = m.state, remaining >= Self.directMinimum {
            if let result = self.readDirect(m, &sink, remaining: remaining, blocking: blocking, &fx) { return result }
        }
        let room = m.capacity - m.tail
        let result = Sys.read(self.fd.raw, m.staging + m.tail, room, blocking: blocking)
        if case .done(let n) = result {
            m.tail += n
            m.shortRead = n < room
        }
        return result
    }

    /// Reads the rest of a payload straight into its destination (and whatever follows into
    /// staging). Nil when the sink cannot take direct reads (the tail of a too-long message).
    private func readDirect(_ m: ReceiveMachine, _ sink: inout Sink, remaining: Int, blocking: Bool,
                            _ fx: inout ReceiveEffects) -> IOResult? {
        let maxIov = SanBuffers.maxCount + 1
        return withUnsafeTemporaryAllocation(of: iovec.self, capacity: Int(maxIov)) { iovs -> IOResult? in
            let iov = iovs.baseAddress!
            var count = 0, covered = 0
            var region: RdmaRegion?
            switch sink {
            case .receive(let cursor, _):
                guard cursor.remaining > 0 else { return nil }
                (count, covered) = cursor.fill(iov, max: Int(SanBuffers.maxCount), limit: remaining)
            case .read(_, let cursor):
                (count, covered) = cursor.fill(iov, max: Int(SanBuffers.maxCount), limit: remaining)
            case .early(let message, let filled):
                iov[0] = iovec(iov_base: message.bytes + filled, iov_len: remaining)
                (count, covered) = (1, remaining)
            case .region(let r, let address):
                iov[0] = iovec(iov_base: UnsafeMutableRawPointer(bitPattern: address), iov_len: remaining)
                (count, covered) = (1, remaining)
                region = r
            case .discard:
                return nil
            }
            iov[count] = iovec(iov_base: m.staging + m.tail, iov_len: m.capacity - m.tail)
            let total = count + 1
            let result: IOResult
            if let region {
                // A waiter may sleep here holding the region's lock: a deregistration racing with
                // a write still arriving (the application broke the "done" protocol) then waits
                // at most the socket's 20 ms receive timeout, and the write ends the connection.
                guard let r = region.withLive({ _ in Sys.readv(self.fd.raw, iov, total, blocking: blocking) }) else {
                    _ = self.violation(.revokedInFlight, refused: self.currentWrite, &fx)
                    return .done(0)
                }
                result = r
            } else {
                result = Sys.readv(self.fd.raw, iov, total, blocking: blocking)
            }
            guard case .done(let n) = result else { return result }
            m.shortRead = n < covered + (m.capacity - m.tail)
            let direct = min(n, covered)
            self.advance(&sink, by: direct)
            m.tail += n - direct
            if direct == remaining {
                m.state = .prologue
                self.finish(sink, &fx)
            } else {
                m.state = .data(sink, remaining: remaining - direct)
            }
            return result
        }
    }

    private func advance(_ sink: inout Sink, by n: Int) {
        switch sink {
        case .receive(var cursor, let length):
            cursor.advance(n)
            sink = .receive(cursor, length: length)
        case .read(let tag, var cursor):
            cursor.advance(n)
            sink = .read(tag: tag, cursor)
        case .early(let message, let filled):
            sink = .early(message, filled: filled + n)
        case .region(let region, let address):
            sink = .region(region, address: address + UInt(n))
        case .discard:
            break
        }
    }
}
