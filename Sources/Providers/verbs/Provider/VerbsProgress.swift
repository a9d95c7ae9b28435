import CIBVerbs
import CSanVerbsSupport
import Glibc

// Unsafe file: the completion channel and epoll.

/// A device's progress thread. It sleeps in epoll_wait on two kinds of file descriptor:
/// - the completion channel: a CQ has new completions → `onCompletion(tag)`, where `tag` is the
///   CQ's context (the SOCKET value of the socket that owns it);
/// - each connection's side-channel TCP socket: the peer never writes after the exchange, so
///   any event there means it closed or failed → `onHangup(tag)`.
///
/// CQ events are acknowledged as soon as they are read, so ibv_destroy_cq (which waits for every
/// event to be acknowledged) never waits on this thread, and the tag — not the CQ pointer — is
/// what leads to the socket: a CQ freed by a concurrent close is never touched.
final class VerbsProgress: @unchecked Sendable {
    private static let channelTag: UInt64 = 0
    let api: VerbsAPI
    let channel: VerbsChannel
    private let epoll: Int32
    private let onCompletion: @Sendable (UInt) -> Void
    private let onHangup: @Sendable (UInt) -> Void

    private init(api: VerbsAPI, channel: VerbsChannel, epoll: Int32, onCompletion: @escaping @Sendable (UInt) -> Void,
                 onHangup: @escaping @Sendable (UInt) -> Void) {
        self.api = api
        self.channel = channel
        self.epoll = epoll
        self.onCompletion = onCompletion
        self.onHangup = onHangup
    }

    static func start(api: VerbsAPI, context: VerbsContext, onCompletion: @escaping @Sendable (UInt) -> Void,
                      onHangup: @escaping @Sendable (UInt) -> Void) -> Result<VerbsProgress, VerbsError> {
        let channel: VerbsChannel
        switch api.createChannel(context) {
        case .success(let c): channel = c
        case .failure(let e): return .failure(e)
        }
        let fd = channel.pointee.fd
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let ep = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard ep >= 0 else {
            let e = VerbsError("epoll_create1", errno)
            _ = api.destroyChannel(channel)
            return .failure(e)
        }
        let progress = VerbsProgress(api: api, channel: channel, epoll: ep, onCompletion: onCompletion, onHangup: onHangup)
        guard progress.add(fd: fd, tag: Self.channelTag, events: UInt32(EPOLLIN.rawValue)),
              VerbsThread.spawn({ progress.run() }) != nil else {
            close(ep)
            _ = api.destroyChannel(channel)
            return .failure(VerbsError("pthread_create", EAGAIN))
        }
        return .success(progress)
    }

    /// Starts watching a connection's TCP socket for the peer's close.
    func watch(fd: Int32, tag: UInt) -> Bool {
        self.add(fd: fd, tag: UInt64(tag), events: UInt32(EPOLLIN.rawValue | EPOLLRDHUP.rawValue))
    }

    /// Stops watching (before the fd is closed).
    func unwatch(fd: Int32) { _ = csan_epoll_del(self.epoll, fd) }

    private func add(fd: Int32, tag: UInt64, events: UInt32) -> Bool {
        csan_epoll_add(self.epoll, fd, events, tag) == 0
    }

    private func run() {
        var tags = [UInt64](repeating: 0, count: 32)
        while true {
            let n = csan_epoll_wait_tags(self.epoll, &tags, Int32(tags.count))
            if n < 0 {
                if errno == EINTR { continue }
                VerbsLog.line("progress thread: epoll_wait: \(VerbsErrno.message(errno)); completions stop")
                return
            }
            for i in 0..<Int(n) {
                let tag = tags[i]
                if tag == Self.channelTag {
                    self.readChannel()
                } else {
                    // One report per connection: the socket's handler unwatches the fd.
                    self.onHangup(UInt(tag))
                }
            }
        }
    }

    /// Reads every pending CQ event: re-arm the CQ, ack the event, then let the owner drain it.
    /// Re-arming before draining means a completion that lands during the drain raises a new
    /// event; re-arming before the ack means the CQ cannot be destroyed under the re-arm.
    private func readChannel() {
        while true {
            switch self.api.getCQEvent(self.channel) {
            case .failure:
                return  // EAGAIN: nothing more now
            case .success(let (cq, context)):
                _ = self.api.requestNotify(cq)
                self.api.ackCQEvents(cq, 1)
                self.onCompletion(UInt(bitPattern: context))
            }
        }
    }
}
