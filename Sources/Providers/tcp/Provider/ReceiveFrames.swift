import Glibc
import SanCore
import SanProviderKit

/// The receive side's decisions per frame: where a frame's data goes, which request is served or
/// refused, and what a finished frame completes.
extension Connection {
    /// Acts on a decoded prologue: picks the data's destination or answers the request. Returns
    /// `.stalled` without consuming the prologue when a message must wait for a receive.
    func begin(_ frame: Frame, _ m: ReceiveMachine, _ fx: inout ReceiveEffects) -> ReceiveOutcome {
        switch frame {
        case .send(let length):
            guard length <= self.config.maxMessageSize else { return self.violation(.tooLong, &fx) }
            guard let sink = self.messageSink(length: length) else { return .stalled }
            m.state = .data(sink, remaining: Int(length))
        case .rdmaWrite(let request):
            m.writesSeen += 1
            let region = self.regions.lookup(request.descriptor.region)
            switch RequestValidator.validate(request, connection: self.id, grant: region?.grant, needs: .write,
                                             maxLength: self.config.maxRdmaSize) {
            case .failure(let e): return self.violation(e, refused: self.currentWrite, &fx)
            case .success(let address):
                m.state = .data(.region(region!, address: address), remaining: Int(request.length))
            }
        case .readRequest(let request, let tag):
            let region = self.regions.lookup(request.descriptor.region)
            switch RequestValidator.validate(request, connection: self.id, grant: region?.grant, needs: .read,
                                             maxLength: self.config.maxRdmaSize) {
            case .failure(let e): return self.violation(e, refused: RefusedFrame(type: .readRequest, id: tag), &fx)
            case .success(let address):
                self.queueResponse(tag: tag, address: address, length: request.length, region: region!)
                fx.flush = true
            }
        case .readResponse(let tag, let length):
            let read = self.sendQueue.withLock { $0.reads[tag] }
            guard let read, read.length == length else { return self.violation(.unexpectedResponse, &fx) }
            m.state = .data(.read(tag: tag, ScatterCursor(read.op.segments)), remaining: Int(length))
        case .close:
            m.peerClosing = true
        case .abort(_, let refused):
            self.blame(refused)
            self.end(.connectionAborted, &fx)
            return .finished
        case .ack(let placed):
            let fine = self.sendQueue.withLock { q -> Bool in
                guard q.acknowledge(placed: placed) else { return false }
                q.takeFinished(into: &fx.completions, gate: self.context.gate)
                return true
            }
            guard fine else { return self.violation(.unexpectedAck, &fx) }
        }
        return .drained
    }

    /// Records which of our operations the peer's ABORT refused (a write by its sequence
    /// number, a read by its tag), so that one fails with WSAECONNABORTED and the rest are
    /// flushed.
    private func blame(_ refused: RefusedFrame?) {
        guard let refused else { return }
        let id = self.sendQueue.withLock { q -> UInt64? in
            switch refused.type {
            case .rdmaWrite: return q.writeId(seq: refused.id)
            case .readRequest: return q.reads[refused.id] != nil ? refused.id : nil
            default: return nil
            }
        }
        if let id { self.state.withLock { $0.culprit = id } }
    }

    /// The destination of an incoming message: the oldest posted receive if no earlier message
    /// is waiting, else a private early buffer while the per-connection budget allows, else
    /// nothing (the receive side stalls until the application posts a receive).
    func messageSink(length: UInt32) -> Sink? {
        self.state.withLock { s -> Sink? in
            if s.early.isEmpty, let recv = s.posted.popFirst() {
                s.filling = recv
                return .receive(ScatterCursor(recv.op.segments), length: length)
            }
            if s.earlyBytes == 0 || s.earlyBytes + Int(length) <= self.config.earlyBytes || s.budgetLifted {
                s.earlyBytes += Int(length)
                return .early(EarlyMessage(length: Int(length)), filled: 0)
            }
            self.rxStalled.store(true, ordering: .releasing)
            return nil
        }
    }

    /// The frame's data is all in: report what it finished.
    func finish(_ sink: Sink, _ fx: inout ReceiveEffects) {
        switch sink {
        case .receive(_, let length):
            let recv = self.state.withLock { s -> RecvOp? in
                let r = s.filling
                s.filling = nil
                if r != nil { self.context.gate.enter() }
                return r
            }
            guard let recv else { return }
            let bytes = min(length, recv.capacity)
            fx.completions.append(Completion(op: recv.op, error: length > recv.capacity ? .messageSize : nil,
                                             bytes: bytes))
        case .early(let message, _):
            let recv = self.state.withLock { s -> RecvOp? in
                if s.early.isEmpty, let r = s.posted.popFirst() {
                    s.earlyBytes -= message.length
                    self.context.gate.enter()
                    return r
                }
                s.early.append(message)
                return nil
            }
            if let recv { fx.completions.append(Self.copy(message, into: recv)) }
        case .read(let tag, _):
            self.sendQueue.withLock { q in
                guard q.reads.removeValue(forKey: tag) != nil else { return }
                q.markFinished(tag)
                q.takeFinished(into: &fx.completions, gate: self.context.gate)
            }
            self.readsCompleted.add(1, ordering: .releasing)
            fx.flush = true
        case .region:
            // Placed: the next ACK (at the end of this receive pass) announces it.
            self.placedWrites.add(1, ordering: .releasing)
        case .discard:
            break
        }
    }

    /// Copies an early message into a receive's buffers (truncating, with WSAEMSGSIZE, when it
    /// does not fit).
    static func copy(_ message: EarlyMessage, into recv: RecvOp) -> Completion {
        var cursor = ScatterCursor(recv.op.segments)
        let n = min(message.length, cursor.remaining)
        cursor.copy(from: message.bytes, count: n)
        return Completion(op: recv.op, error: message.length > Int(recv.capacity) ? .messageSize : nil,
                          bytes: UInt32(n))
    }
}
