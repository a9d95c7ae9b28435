import CSanABI
import Glibc
import SanCore
import SanProviderKit

/// Work completions → overlapped results (reference §5.3), the peer's close, and the teardown
/// of a connection at WSPCloseSocket.
extension VerbsProvider {
    /// The progress thread saw CQ events for socket `tag`.
    func completionsArrived(_ tag: UInt) {
        guard let sock = self.sockets.lookup(SOCKET(tag)) else { return }  // closed: close drains
        self.drain(sock)
    }

    /// Takes every completion off the socket's CQ and reports each one: the mapping decides
    /// error and bytes; reporting happens outside the socket's lock (an upcall may re-enter the
    /// provider), counted in `deliveries` so close can wait for the last one.
    func drain(_ sock: VerbsSocket) {
        while true {
            let (polled, batch) = sock.io.withLock { d -> (Int, [(UInt, VerbsCompletionResult)]) in
                guard let connection = d.connection else { return (0, []) }
                let completions = connection.queuePair.poll()
                var out: [(UInt, VerbsCompletionResult)] = []
                for wc in completions {
                    guard let op = d.operations.removeValue(forKey: wc.requestID) else { continue }
                    if op.kind == .receive { d.receiveOutstanding -= 1 } else { d.sendOutstanding -= 1 }
                    for h in op.handles { sock.registrations.pin(h, -1) }
                    let r = VerbsCompletionMapping.result(status: wc.status, kind: op.kind, completionLength: wc.byteLength,
                                                          postedLength: op.postedLength)
                    if r.failsSocket && d.failure == nil {
                        d.failure = r.error
                        VerbsLog.line("socket 0x\(String(sock.value, radix: 16)): \(op.kind) completed with "
                            + "\(VerbsCompletionStatus.name(wc.status)) (vendor error 0x\(String(wc.vendorError, radix: 16))); "
                            + "connection failed")
                        connection.queuePair.fail()
                    }
                    out.append((op.overlapped, r))
                }
                sock.deliveries.add(out.count, ordering: .sequentiallyConsistent)
                return (completions.count, out)
            }
            for (ov, r) in batch { self.report(sock, ov, r) }
            sock.deliveries.subtract(batch.count, ordering: .sequentiallyConsistent)
            if polled == 0 { return }
        }
    }

    private func report(_ sock: VerbsSocket, _ ov: UInt, _ r: VerbsCompletionResult) {
        guard let pointer = UnsafeMutablePointer<WSAOVERLAPPED>(bitPattern: ov) else { return }
        self.completer.complete(pointer, switchSocket: sock.switchSocket, upcalls: self.upcalls, error: r.error, bytes: r.bytes)
    }

    /// The side channel of socket `tag` closed or failed: the peer is gone. The QP goes to ERR so
    /// every posted request completes (flushed, WSA_OPERATION_ABORTED), and later calls report
    /// WSAECONNRESET.
    func peerHungUp(_ tag: UInt) {
        guard let sock = self.sockets.lookup(SOCKET(tag)) else { return }
        sock.io.withLock { d in
            guard let connection = d.connection else { return }
            connection.progress.unwatch(fd: connection.sideChannel)
            if d.failure == nil { d.failure = .connectionReset }
            connection.queuePair.fail()
        }
    }

    /// How long close waits for flushed completions before aborting the rest itself.
    static let flushTimeoutNanoseconds: UInt64 = 2_000_000_000

    /// WSPCloseSocket's teardown: QP to ERR, flushed requests reported WSA_OPERATION_ABORTED,
    /// every region deregistered, then QP, CQ and PD destroyed.
    func teardown(_ sock: VerbsSocket) {
        guard let connection = sock.io.withLock({ d -> VerbsConnection? in
            if d.failure == nil { d.failure = .operationAborted }
            d.connection?.queuePair.fail()
            return d.connection
        }) else {
            sock.registrations.removeAll()
            return
        }
        connection.progress.unwatch(fd: connection.sideChannel)
        close(connection.sideChannel)
        let deadline = verbsMonotonicNanoseconds() &+ Self.flushTimeoutNanoseconds
        while sock.io.withLock({ !$0.operations.isEmpty }) && verbsMonotonicNanoseconds() < deadline {
            self.drain(sock)
            usleep(1_000)
        }
        // Whatever the adapter did not flush in time is aborted here.
        let leftover = sock.io.withLock { d -> [VerbsSocket.PendingOperation] in
            defer { d.operations.removeAll() }
            return Array(d.operations.values)
        }
        for op in leftover { self.report(sock, op.overlapped, VerbsCompletionResult(error: .operationAborted, bytes: 0, failsSocket: false)) }
        while sock.deliveries.load(ordering: .sequentiallyConsistent) > 0 { usleep(100) }
        sock.io.withLock { d in
            for r in d.localRegions.values { _ = r.region.deregister() }
            for r in d.rdmaRegions.values { _ = r.region.deregister() }
            d.localRegions.removeAll()
            d.handleRegions.removeAll()
            d.rdmaRegions.removeAll()
            connection.queuePair.destroy()
            d.connection = nil
        }
        sock.registrations.removeAll()
    }

    /// Destroys a connection that was never published (its socket closed during the connect).
    func destroy(_ connection: VerbsConnection) {
        connection.queuePair.destroy()
        close(connection.sideChannel)
    }
}

/// CLOCK_MONOTONIC in nanoseconds.
func verbsMonotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
