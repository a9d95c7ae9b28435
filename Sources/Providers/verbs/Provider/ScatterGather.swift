import SanCore
import SanProviderKit

/// One `struct ibv_sge`, as Swift values.
public struct VerbsScatterGatherEntry: Equatable, Sendable {
    public var address: UInt64
    public var length: UInt32
    public var lkey: UInt32

    public init(address: UInt64, length: UInt32, lkey: UInt32) {
        self.address = address
        self.length = length
        self.lkey = lkey
    }
}

/// A work request's scatter/gather list and its total length.
public struct VerbsScatterGatherList: Equatable, Sendable {
    public var entries: [VerbsScatterGatherEntry]
    public var total: UInt32
}

/// Builds sg lists from the caller's buffers (WSABUFEX handles, or the registrations found for
/// plain WSABUFs) and enforces the limits a work request has.
public enum VerbsScatterGather {
    /// - Parameters:
    ///   - segments: the checked buffers (``SanBuffers`` already proved each lies inside a
    ///     registration of the socket with the right access).
    ///   - lkey: the local key of a registration handle; nil when the handle has no memory region
    ///     (evicted by the cache callback since the check), which answers WSAEINVAL.
    ///   - maxEntries: the QP's `max_send_sge` / `max_recv_sge` (for RDMA reads the device's
    ///     `max_sge_rd`). More non-empty buffers than that is WSAEINVAL, as in IBSP.
    ///   - maxTotal: SO_MAX_MSG_SIZE or SO_MAX_RDMA_SIZE; more is WSAEMSGSIZE.
    /// - Returns: the entries, with zero-length buffers left out (they move nothing and some
    ///   adapters reject an empty SGE), or the WSA error to report.
    public static func build(_ segments: [SanBufferSegment], lkey: (UInt) -> UInt32?, maxEntries: Int,
                             maxTotal: UInt32) -> Result<VerbsScatterGatherList, WSAError> {
        var entries: [VerbsScatterGatherEntry] = []
        entries.reserveCapacity(segments.count)
        var total: UInt64 = 0
        for segment in segments where segment.length > 0 {
            guard entries.count < maxEntries else { return .failure(.invalidArgument) }
            guard let key = lkey(segment.handle) else { return .failure(.invalidArgument) }
            total += UInt64(segment.length)
            guard total <= UInt64(maxTotal) else { return .failure(.messageSize) }
            entries.append(VerbsScatterGatherEntry(address: UInt64(segment.address), length: segment.length, lkey: key))
        }
        return .success(VerbsScatterGatherList(entries: entries, total: UInt32(total)))
    }
}
