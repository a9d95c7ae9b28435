import Glibc
import SanCore
import SanProviderKit

/// The system-call side of the transmit queue (Transmit.swift): a frame's unwritten rest as
/// iovecs, one sendmsg, the last control frames. Called with the tx lock held.
extension Connection {
    func writeInPlace(_ item: inout TxItem) -> (IOResult, whole: Bool, partly: Bool, TxFinish) {
        let r = self.writeOne(&item)
        return (r, item.written == item.total, item.written > 0, item.finishes)
    }

    /// One sendmsg of the rest of `item`, its prologue lent in place (the common path: no copy).
    func writeOne(_ item: inout TxItem) -> IOResult {
        let written = item.written
        let segments = item.segments
        let region = item.region
        let plen = item.prologue.count
        let fd = self.fd.raw
        let result = item.prologue.withBytes { prologue -> IOResult in
            withUnsafeTemporaryAllocation(of: iovec.self, capacity: segments.count + 1) { iovs -> IOResult in
                let iov = iovs.baseAddress!
                let count = Self.describe(prologue: prologue, count: plen, written: written, segments: segments, into: iov)
                if let region {
                    return region.withLive { _ in Sys.writev(fd, iov, count) } ?? .failed(-1)
                }
                return Sys.writev(fd, iov, count)
            }
        }
        if case .done(let n) = result { item.written += n }
        return result
    }

    /// One sendmsg of the rest of `first` and, when given, all of `second` after it; advances
    /// both by what went out.
    func writeSome(_ first: inout TxItem, _ second: inout TxItem?) -> IOResult {
        let region = first.region ?? second?.region
        let fd = self.fd.raw
        let (a, b) = (first, second)
        let result = withUnsafeTemporaryAllocation(of: iovec.self, capacity: a.segments.count + (b?.segments.count ?? 0) + 2) {
            iovs -> IOResult in
            // The prologues' unwritten bytes are copied here (at most 88 each), so every iovec
            // points into memory that stays put until the sendmsg returned.
            withUnsafeTemporaryAllocation(byteCount: 2 * Frame.maxPrologueSize, alignment: 16) { scratch -> IOResult in
                let iov = iovs.baseAddress!
                var count = Self.describe(a, into: iov, prologueCopy: scratch.baseAddress!)
                if let b {
                    count += Self.describe(b, into: iov + count, prologueCopy: scratch.baseAddress! + Frame.maxPrologueSize)
                }
                if let region {
                    return region.withLive { _ in Sys.writev(fd, iov, count) } ?? .failed(-1)
                }
                return Sys.writev(fd, iov, count)
            }
        }
        guard case .done(let n) = result else { return result }
        let forFirst = min(n, first.total - first.written)
        first.written += forFirst
        if n > forFirst { second!.written += n - forFirst }
        return result
    }

    /// Fills iovecs with the unwritten rest of `item` (its prologue bytes copied to
    /// `prologueCopy`); returns how many.
    static func describe(_ item: TxItem, into iov: UnsafeMutablePointer<iovec>,
                                 prologueCopy: UnsafeMutableRawPointer) -> Int {
        var prologue = item.prologue
        let plen = prologue.count
        prologue.withBytes { prologueCopy.copyMemory(from: $0, byteCount: plen) }
        return Self.describe(prologue: UnsafeRawPointer(prologueCopy), count: plen, written: item.written,
                             segments: item.segments, into: iov)
    }

    /// Fills iovecs with what is left after `written` bytes of a prologue at `prologue` and the
    /// data in `segments`; returns how many.
    static func describe(prologue: UnsafeRawPointer, count plen: Int, written: Int,
                                 segments: [SanBufferSegment], into iov: UnsafeMutablePointer<iovec>) -> Int {
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
            iov[count] = iovec(iov_base: UnsafeMutableRawPointer(bitPattern: seg.address &+ UInt(skip)), iov_len: len - skip)
            count += 1
            skip = 0
        }
        return count
    }

    /// Writes the connection's last control frame (ABORT or CLOSE) at a frame boundary, after an
    /// ACK of the writes placed here that the peer has not heard of, best effort: the peer
    /// learns why the connection ends if the socket has room. Caller holds the tx lock.
    func writeControl(_ frame: Frame, _ t: inout TxState) {
        guard t.current == nil else { return }
        var control = PrologueBytes(frame)
        let placed = self.placedWrites.load(ordering: .acquiring)
        var ack = PrologueBytes(.ack(placed: placed))
        let withAck = placed > t.ackSent
        t.ackSent = max(t.ackSent, placed)
        let (ackCount, controlCount) = (ack.count, control.count)
        _ = ack.withBytes { a in
            control.withBytes { c in
                var iov = (iovec(iov_base: UnsafeMutableRawPointer(mutating: a), iov_len: ackCount),
                           iovec(iov_base: UnsafeMutableRawPointer(mutating: c), iov_len: controlCount))
                return withUnsafeMutablePointer(to: &iov) {
                    $0.withMemoryRebound(to: iovec.self, capacity: 2) { withAck ? Sys.writev(self.fd.raw, $0, 2)
                        : Sys.writev(self.fd.raw, $0 + 1, 1) }
                }
            }
        }
    }
}
