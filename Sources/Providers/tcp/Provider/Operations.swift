import Glibc
import SanCore
import SanProviderKit

/// An overlapped operation the application started and the provider has not reported yet. The
/// WSAOVERLAPPED is kept as an address (it belongs to the caller); the segments are the caller's
/// buffers, whose registrations stay pinned until the completion.
struct PendingOp: Sendable {
    let overlapped: UInt
    let segments: [SanBufferSegment]
}

/// A finished operation waiting to be reported (outside every lock, see Connection.deliver).
struct Completion: Sendable {
    let op: PendingOp
    let error: WSAError?
    let bytes: UInt32
}

/// A posted WSPRecv: one message lands in its buffers.
struct RecvOp: Sendable {
    let op: PendingOp
    let capacity: UInt32
}

/// A WSPRdmaRead waiting for its READ_RESPONSE.
struct ReadOp: Sendable {
    let op: PendingOp
    let length: UInt32
}

/// A message that arrived before any receive was posted (reference §4.2): kept privately and
/// handed to the next WSPRecv, one message per buffer.
final class EarlyMessage: @unchecked Sendable {
    // Written only by the receive owner before the message is queued, read once after.
    let bytes: UnsafeMutableRawPointer
    let length: Int

    init(length: Int) {
        self.length = length
        self.bytes = UnsafeMutableRawPointer.allocate(byteCount: max(length, 1), alignment: 16)
    }

    deinit { self.bytes.deallocate() }
}

/// A position in a caller's buffer list (WSABUF or WSABUFEX segments), used to scatter a message
/// or a read response into it. All arithmetic is on lengths the provider checked at post time.
struct ScatterCursor: Sendable {
    let segments: [SanBufferSegment]
    private(set) var index = 0
    private(set) var offset = 0
    /// Bytes of room left.
    private(set) var remaining: Int

    init(_ segments: [SanBufferSegment]) {
        self.segments = segments
        self.remaining = segments.reduce(0) { $0 + Int($1.length) }
        self.skipEmpty()
    }

    /// Describes up to `limit` bytes of the room left in at most `max` iovecs; returns how many
    /// iovecs and bytes it described.
    func fill(_ iov: UnsafeMutablePointer<iovec>, max: Int, limit: Int) -> (count: Int, bytes: Int) {
        var count = 0, bytes = 0
        var i = self.index, off = self.offset
        while count < max, bytes < limit, i < self.segments.count {
            let seg = self.segments[i]
            let take = Swift.min(Int(seg.length) - off, limit - bytes)
            if take > 0 {
                iov[count] = iovec(iov_base: UnsafeMutableRawPointer(bitPattern: seg.address &+ UInt(off)),
                                   iov_len: take)
                count += 1
                bytes += take
            }
            i += 1
            off = 0
        }
        return (count, bytes)
    }

    /// Moves past `n` bytes of room (n <= remaining).
    mutating func advance(_ n: Int) {
        var left = n
        self.remaining -= n
        while left > 0, self.index < self.segments.count {
            let room = Int(self.segments[self.index].length) - self.offset
            if left < room {
                self.offset += left
                return
            }
            left -= room
            self.index += 1
            self.offset = 0
        }
        self.skipEmpty()
    }

    /// Copies `count` bytes (<= remaining) from `source` into the buffers and advances.
    mutating func copy(from source: UnsafeRawPointer, count: Int) {
        var done = 0
        while done < count, self.index < self.segments.count {
            let seg = self.segments[self.index]
            let take = Swift.min(Int(seg.length) - self.offset, count - done)
            UnsafeMutableRawPointer(bitPattern: seg.address &+ UInt(self.offset))!
                .copyMemory(from: source + done, byteCount: take)
            done += take
            self.advance(take)
        }
    }

    private mutating func skipEmpty() {
        while self.index < self.segments.count, Int(self.segments[self.index].length) == self.offset {
            self.index += 1
            self.offset = 0
        }
    }
}
