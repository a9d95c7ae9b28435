import SanCore
import SanProviderKit

/// The completion side of a connection's send queue, as on an RC queue pair: every WSPSend,
/// WSPRdmaWrite and WSPRdmaRead gets an entry in posting order, and completions are reported in
/// that order — an operation finished out of order waits for the ones before it. What finishes
/// an entry:
///
/// - a send: its last byte handed to the kernel (TCP delivers it in order, after everything
///   before it, which is the "done" message guarantee);
/// - an RDMA write: the target's ACK saying it placed the write (Docs/TCPProvider.md, "ACK");
/// - an RDMA read: the last byte of its READ_RESPONSE landed in the local buffers.
///
/// Entry ids are assigned in posting order and never reused; a read's id is its wire tag. Lives
/// under the connection's `sendQueue` lock; entries are added with the transmit lock held too, so
/// ids, write sequence numbers and wire order agree.
struct SendQueue: Sendable {
    struct Entry: Sendable {
        let op: PendingOp
        let bytes: UInt32
        var finished = false
    }

    private var entries = FIFO<Entry>()
    /// Id of `entries.first`.
    private var headId: UInt64 = 1
    private(set) var nextId: UInt64 = 1
    /// RDMA writes sent so far (the last one's sequence number) and acknowledged so far.
    private(set) var writesSent: UInt64 = 0
    private(set) var writesAcked: UInt64 = 0
    /// Write sequence number → entry id, for the writes not acknowledged yet, oldest first.
    private var unacked = FIFO<(seq: UInt64, id: UInt64)>()
    /// Outstanding reads by tag (= entry id): where their responses go.
    var reads: [UInt64: ReadOp] = [:]

    var isEmpty: Bool { self.entries.isEmpty }

    /// Adds an operation; returns its id.
    mutating func append(_ op: PendingOp, bytes: UInt32) -> UInt64 {
        let id = self.nextId
        self.nextId += 1
        self.entries.append(Entry(op: op, bytes: bytes))
        return id
    }

    /// Adds an RDMA write; returns its id (its sequence number is `writesSent` afterwards).
    mutating func appendWrite(_ op: PendingOp, bytes: UInt32) -> UInt64 {
        let id = self.append(op, bytes: bytes)
        self.writesSent += 1
        self.unacked.append((self.writesSent, id))
        return id
    }

    /// The entry id of the write with sequence number `seq`, if it is still unacknowledged.
    func writeId(seq: UInt64) -> UInt64? {
        guard seq > self.writesAcked, seq <= self.writesSent else { return nil }
        return self.unacked.first(where: { $0.seq == seq })?.id
    }

    /// The peer placed writes 1…`placed`: false when that acknowledges nothing new or writes
    /// never sent (a protocol violation).
    mutating func acknowledge(placed: UInt64) -> Bool {
        guard placed > self.writesAcked, placed <= self.writesSent else { return false }
        while let w = self.unacked.first, w.seq <= placed {
            _ = self.unacked.popFirst()
            self.markFinished(w.id)
        }
        self.writesAcked = placed
        return true
    }

    mutating func markFinished(_ id: UInt64) {
        guard id >= self.headId else { return }
        self.entries.withElement(at: Int(id - self.headId)) { $0.finished = true }
    }

    /// Takes the finished entries at the front, in order.
    mutating func takeFinished(into out: inout [Completion], gate: UpcallGate) {
        while let first = self.entries.first, first.finished {
            _ = self.entries.popFirst()
            self.headId += 1
            gate.enter()
            out.append(Completion(op: first.op, error: nil, bytes: first.bytes))
        }
    }

    /// Takes every entry (the connection ended): `culprit` fails with WSAECONNABORTED, the rest
    /// with `error` — a send that went out behind an unacknowledged write too: the target may
    /// never have processed it (it drops everything after a frame it refuses), and on a queue
    /// pair it would be flushed as well.
    mutating func takeAll(error: WSAError, culprit: UInt64?, into out: inout [Completion], gate: UpcallGate) {
        var id = self.headId
        while let e = self.entries.popFirst() {
            gate.enter()
            out.append(Completion(op: e.op, error: id == culprit ? .connectionAborted : error, bytes: 0))
            id += 1
        }
        self.headId = id
        self.unacked = FIFO()
        self.reads.removeAll()
    }
}
