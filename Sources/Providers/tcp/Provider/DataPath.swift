import CSanABI
import SanCore
import SanProviderKit

/// WSPSend, WSPRecv, WSPRdmaWrite, WSPRdmaRead: checks on the caller's thread, then the
/// connection takes over. With an overlapped structure they return SOCKET_ERROR /
/// WSA_IO_PENDING (reference §3.4); without one they block until the operation finished.
extension TCPProvider {
    /// The connection of a connected socket, or the error to report.
    func connected(_ s: SOCKET) -> Result<Connection, WSAError> {
        guard let sock = self.sockets.lookup(s) else { return .failure(.notSocket) }
        guard let connection = sock.connection else { return .failure(.notConnected) }
        return .success(connection)
    }

    func send(_ s: SOCKET, _ buffers: UnsafeMutablePointer<WSABUF>?, _ count: UInt32,
              _ lpBytes: UnsafeMutablePointer<UInt32>?, _ ov: UnsafeMutablePointer<WSAOVERLAPPED>?,
              _ lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        let conn: Connection
        switch self.connected(s) {
        case .success(let c): conn = c
        case .failure(let e): return sanFail(lpErrno, e)
        }
        if let e = conn.terminalError { return sanFail(lpErrno, e) }
        let segments: [SanBufferSegment]
        switch SanBuffers.segments(buffers, count: count, needs: .read, registrations: conn.registrations) {
        case .success(let segs): segments = segs
        case .failure(let e): return sanFail(lpErrno, e)
        }
        guard let total = SanBuffers.total(segments), total <= conn.sendLimit else {
            return sanFail(lpErrno, .messageSize)
        }
        return self.start(conn, segments, ov, lpBytes, lpErrno) { op in
            // A send after an unfinished RDMA read waits for it (the "done" message, reference §1.7).
            let issued = conn.readsIssued.load(ordering: .acquiring)
            let fence = issued > conn.readsCompleted.load(ordering: .acquiring) ? issued : 0
            return conn.submit(TxItem(.send(length: total), segments: segments, fence: fence), .send(op, bytes: total))
        }
    }

    func recv(_ s: SOCKET, _ buffers: UnsafeMutablePointer<WSABUF>?, _ count: UInt32,
              _ lpBytes: UnsafeMutablePointer<UInt32>?, _ lpFlags: UnsafeMutablePointer<UInt32>?,
              _ ov: UnsafeMutablePointer<WSAOVERLAPPED>?, _ lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        let conn: Connection
        switch self.connected(s) {
        case .success(let c): conn = c
        case .failure(let e): return sanFail(lpErrno, e)
        }
        let segments: [SanBufferSegment]
        switch SanBuffers.segments(buffers, count: count, needs: .write, registrations: conn.registrations) {
        case .success(let segs): segments = segs
        case .failure(let e): return sanFail(lpErrno, e)
        }
        guard let capacity = SanBuffers.total(segments) else { return sanFail(lpErrno, .invalidArgument) }
        lpFlags?.pointee = 0
        return self.start(conn, segments, ov, lpBytes, lpErrno) { op in
            conn.post(RecvOp(op: op, capacity: capacity))
        }
    }

    func rdma(_ s: SOCKET, _ buffers: UnsafeMutablePointer<WSABUFEX>?, _ count: UInt32,
              _ descriptor: UnsafeMutableRawPointer?, _ descriptorLength: UInt32, _ offset: UInt32,
              _ lpBytes: UnsafeMutablePointer<UInt32>?, _ ov: UnsafeMutablePointer<WSAOVERLAPPED>?,
              isWrite: Bool, _ lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        let conn: Connection
        switch self.connected(s) {
        case .success(let c): conn = c
        case .failure(let e): return sanFail(lpErrno, e)
        }
        if let e = conn.terminalError { return sanFail(lpErrno, e) }
        // The descriptor must be one of ours, for this very connection (the target checks again).
        guard case .success(let target) = RdmaDescriptor.decode(descriptor, length: descriptorLength),
              target.connection == conn.id else { return sanFail(lpErrno, .invalidArgument) }
        // A write reads the local buffers and needs the peer's MEM_WRITE; a read the reverse.
        let local: SanAccess = isWrite ? .read : .write
        let segments: [SanBufferSegment]
        switch SanBuffers.segments(buffers, count: count, needs: local, registrations: conn.registrations) {
        case .success(let segs): segments = segs
        case .failure(let e): return sanFail(lpErrno, e)
        }
        guard let total = SanBuffers.total(segments), total <= self.config.maxRdmaSize else {
            return sanFail(lpErrno, .messageSize)
        }
        // What the target would refuse (the peer's rights, the region's bounds) fails here at
        // once and ends the connection, as a remote access error ends an RC queue pair: the
        // outcome does not depend on which side notices first (Docs/TCPProvider.md, "Errors").
        let violation: WireError? = !target.access.contains(isWrite ? .write : .read) ? .accessDenied
            : !Bounds.fits(offset: UInt64(offset), count: UInt64(total), within: target.length) ? .outOfBounds : nil
        if let violation {
            conn.terminate(.connectionAborted, abort: violation)
            return sanFail(lpErrno, .fault)
        }
        let request = RdmaRequest(descriptor: target, offset: UInt64(offset), length: total)
        return self.start(conn, segments, ov, lpBytes, lpErrno) { op in
            // A read's request frame is built by submit (its tag is its send-queue entry).
            isWrite ? conn.submit(TxItem(.rdmaWrite(request), segments: segments), .write(op, bytes: total))
                : conn.submit(nil, .read(ReadOp(op: op, length: total), request))
        }
    }

    /// Starts an operation whose checks passed: pins its registrations, marks the overlapped
    /// structure in progress and runs `body`, which hands the operation to the connection (or
    /// returns the error that prevented it). Without a caller's overlapped structure the call is
    /// synchronous: a private one in polling mode is used and waited for.
    func start(_ conn: Connection, _ segments: [SanBufferSegment], _ ov: UnsafeMutablePointer<WSAOVERLAPPED>?,
               _ lpBytes: UnsafeMutablePointer<UInt32>?, _ lpErrno: UnsafeMutablePointer<Int32>?,
               _ body: (PendingOp) -> WSAError?) -> Int32 {
        let target: UnsafeMutablePointer<WSAOVERLAPPED>
        if let ov {
            target = ov
        } else {
            target = .allocate(capacity: 1)
            target.initialize(to: WSAOVERLAPPED())
            target.pointee.hEvent = UnsafeMutableRawPointer(bitPattern: 1)
        }
        defer { if ov == nil { target.deallocate() } }
        for seg in segments where seg.handle != 0 { conn.registrations.pin(seg.handle, 1) }
        self.completer.begin(target)
        if let e = body(PendingOp(overlapped: UInt(bitPattern: target), segments: segments)) {
            for seg in segments where seg.handle != 0 { conn.registrations.pin(seg.handle, -1) }
            target.pointee.Internal = 0
            return sanFail(lpErrno, e)
        }
        guard ov == nil else { return sanFail(lpErrno, .ioPending) }
        self.waitForCompletion(conn, target)
        let outcome = self.completer.outcome(target)!
        lpBytes?.pointee = outcome.bytes
        if let e = outcome.error { return sanFail(lpErrno, e) }
        lpErrno?.pointee = 0
        return 0
    }
}

extension Connection {
    /// Posts a receive: an early message, if one waits, completes it at once; otherwise it
    /// queues for the next message. A stalled receive side resumes.
    func post(_ recv: RecvOp) -> WSAError? {
        enum Action { case refused(WSAError), deliver(EarlyMessage), posted }
        let action = self.state.withLock { s -> Action in
            // Messages that arrived before the end are still delivered.
            if let message = s.early.popFirst() {
                s.earlyBytes -= message.length
                self.context.gate.enter()
                return .deliver(message)
            }
            if let t = s.terminal { return .refused(t) }
            s.posted.append(recv)
            return .posted
        }
        switch action {
        case .refused(let e): return e
        case .deliver(let message): self.deliver([Self.copy(message, into: recv)])
        case .posted: break
        }
        if self.rxStalled.exchange(false, ordering: .acquiringAndReleasing) {
            self.kick()
            self.rearm()
        }
        return nil
    }

    /// One nonblocking step for WSPGetOverlappedResult(fWait: FALSE): write what is queued,
    /// read what has arrived.
    func progressOnce() {
        if self.txPending.load(ordering: .acquiring) { self.flush() }
        self.kick(budget: 4)
    }
}
