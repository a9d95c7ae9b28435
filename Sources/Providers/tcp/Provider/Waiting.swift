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
            conn.rearm()
            var effects = ReceiveEffects()
            while true {
                let outcome = conn.receive(budget: 64, &effects)
                if outcome != .drained || effects.flush || !effects.completions.isEmpty { break }
                if !self.completer.isPending(ov) { break }
                // Nothing yet: sleep on the socket. A close or an abort shuts it down, which
                // wakes this poll too; the slice bounds the wait for completions made elsewhere.
                var events = Int16(POLLIN)
                if conn.txPending.load(ordering: .acquiring) { events |= Int16(POLLOUT) }
                let revents = Sys.poll(conn.fd.raw, events: events, timeoutMilliseconds: 20)
                if revents & Int16(POLLOUT) != 0 {
                    effects.flush = true
                    break
                }
            }
            conn.releaseReceive()
            conn.apply(effects)
        }
    }
}
