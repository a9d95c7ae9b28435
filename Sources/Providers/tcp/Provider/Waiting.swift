import CSanABI
import Glibc
import SanCore
import SanProviderKit

/// WSPGetOverlappedResult, and how a thread waits for a completion.
///
/// A waiter drives progress on its connection instead of only sleeping (IBSP polls its CQ inside
/// WSPGetOverlappedResult the same way): fWait FALSE makes one nonblocking step; fWait TRUE takes
/// the connection's receive ownership when it is free, takes the socket out of the progress
/// thread's epoll set, and reads the socket itself, sleeping in poll(2) on it. The message that
/// completes its receive then wakes it directly — one wake-up per message instead of two (the
/// progress thread's, then a futex wake of the waiter). When another thread owns the receive
/// side, the waiter sleeps on the overlapped structure's futex instead.
extension TCPProvider {
    func getOverlappedResult(_ s: SOCKET, _ ov: UnsafeMutablePointer<WSAOVERLAPPED>?,
                             _ lpcb: UnsafeMutablePointer<UInt32>?, _ wait: Int32,
                             _ lpFlags: UnsafeMutablePointer<UInt32>?, _ lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard let ov else { return sanFailBool(lpErrno, .fault) }
        if self.completer.isPending(ov) {
            // After WSPCloseSocket the socket is gone, but its aborted operations can still be read.
            guard let sock = self.sockets.lookup(s) else { return sanFailBool(lpErrno, .notSocket) }
            if let conn = sock.connection {
                if wait != 0 { self.waitForCompletion(conn, ov) } else { conn.progressOnce() }
            } else if wait != 0 {
                _ = self.completer.wait(ov)
            }
        }
        guard let outcome = self.completer.outcome(ov) else { return sanFailBool(lpErrno, .ioIncomplete) }
        return OverlappedCompleter.report(outcome, lpcb, lpFlags, lpErrno)
    }

    /// Returns once `ov` completed.
    func waitForCompletion(_ conn: Connection, _ ov: UnsafeMutablePointer<WSAOVERLAPPED>) {
        while self.completer.isPending(ov) {
            guard self.config.waiterReceives, !conn.isDead, conn.tryAcquireReceive() else {
                // Someone else reads this connection (or it ended): its completion wakes us.
                _ = self.completer.wait(ov, timeoutNanoseconds: 2_000_000)
                continue
            }
            conn.waiterOwns.store(true, ordering: .releasing)
            conn.waiterArrived()
            conn.rearm()
            var effects = ReceiveEffects()
            // What an earlier owner left staged first, without a system call.
            var outcome = conn.receive(budget: 0, stopAtCompletion: true, &effects)
            while outcome == .yielded && effects.completions.isEmpty && !effects.flush
                && self.completer.isPending(ov) {
                if conn.txPending.load(ordering: .acquiring) {
                    // Frames wait for room in the socket: sleep on both directions, and write
                    // here when there is room (their completions are reported after letting go).
                    let revents = Sys.poll(conn.fd.raw, events: Int16(POLLIN | POLLOUT), timeoutMilliseconds: 20)
                    if revents & Int16(POLLOUT) != 0, let e = conn.flushCollecting(&effects.completions) {
                        effects.txFailure = e
                        break
                    }
                    if revents & ~Int16(POLLOUT) != 0 {
                        outcome = conn.receive(budget: 64, stopAtCompletion: true, &effects)
                    }
                } else {
                    // Sleep in the read itself: one system call per message, as with a plain
                    // blocking socket. A close or an abort shuts the socket down, which ends the
                    // read; the receive timeout bounds the wait for completions made elsewhere.
                    outcome = conn.receive(budget: 64, stopAtCompletion: true, blockFirst: true, &effects)
                }
                if outcome == .drained { outcome = .yielded }
            }
            conn.releaseByWaiter()
            let progressed = !effects.completions.isEmpty || effects.flush
            conn.apply(effects)
            if !progressed && (outcome == .stalled || outcome == .finished) {
                // Nothing this thread can read now: wait for whoever can complete it.
                _ = self.completer.wait(ov, timeoutNanoseconds: 2_000_000)
            }
        }
    }
}
