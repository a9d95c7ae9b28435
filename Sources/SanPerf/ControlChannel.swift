#if canImport(Glibc)
import Glibc
#endif
import SanCore
import SanSwitch
import Synchronization

/// Setup messages over the SAN connection: one registered region with a send slot and a receive
/// slot of ``SetupMessage/capacity`` bytes each. A receive is posted before the message it is
/// for can arrive where the protocol allows; early messages are the provider's to buffer
/// (reference §4.2).
final class ControlChannel {
    let socket: SanSocket
    let config: PerfConfig
    let side: PerfSide
    let memory: PerfMemory
    let registration: SanMemoryRegistration
    let sendOp: SanOperation
    let recvOp: SanOperation
    let mailbox: LoopbackMailbox?
    private(set) var receivePosted = false
    /// False once a message came through the mailbox because the provider delivered none.
    private(set) var dataMoved = true

    init(socket: SanSocket, config: PerfConfig, side: PerfSide, mailbox: LoopbackMailbox?) throws(PerfError) {
        self.socket = socket
        self.config = config
        self.side = side
        self.mailbox = mailbox
        self.memory = PerfMemory(size: 2 * SetupMessage.capacity)
        do {
            self.registration = try socket.register(self.memory.bytes, access: .readWrite)
        } catch {
            self.memory.free()
            throw .during("\(side) side: registering the control buffers", error)
        }
        // Control messages always poll: they are not what the run measures, and polling keeps
        // them off the run's upcall event.
        self.sendOp = SanOperation(mode: .poll)
        self.recvOp = SanOperation(mode: .poll)
    }

    /// Releases the control buffers' registration before the socket closes, as a switch does
    /// (reference §4.4), when no operation still uses them; a posted receive keeps it (the close
    /// aborts the receive and drops the registration with the socket).
    func deregister() {
        if !self.recvOp.isPending && !self.sendOp.isPending { try? self.socket.deregister(self.registration) }
    }

    func free() {
        // Only after the socket closed: a pending receive may still own the buffer until then.
        if !self.recvOp.isPending && !self.sendOp.isPending { self.memory.free() }
    }

    /// Posts the receive for the next control message.
    func postReceive() throws(PerfError) {
        precondition(!self.receivePosted)
        // Zero it: a provider that moves no data leaves it untouched (see `receive`).
        self.memory.slice(SetupMessage.capacity, SetupMessage.capacity).initializeMemory(as: UInt8.self, repeating: 0)
        let buf = self.registration.buffer(offset: UInt32(SetupMessage.capacity), length: UInt32(SetupMessage.capacity))
        do { try self.socket.recv([buf], operation: self.recvOp) } catch {
            throw .during("\(self.side) side: posting a control receive", error)
        }
        self.receivePosted = true
    }

    /// Sends a message and waits until the send completed.
    func send(_ message: SetupMessage) throws(PerfError) {
        let n = message.encode(into: self.memory.slice(0, SetupMessage.capacity))
        self.mailbox?.put(message, from: self.side)
        do {
            try self.socket.send([self.registration.buffer(offset: 0, length: UInt32(n))], operation: self.sendOp)
            let c = try self.sendOp.wait(timeoutNanoseconds: self.config.timeoutNanoseconds, strategy: .backoff)
            if let e = c.error { throw PerfError.failed("\(self.side) side: sending the \(message.kind) message completed with \(e)") }
        } catch let e as PerfError {
            throw e
        } catch {
            throw .failed("\(self.side) side: sending the \(message.kind) message: \(error)")
        }
    }

    /// Waits for the posted receive and decodes it as `kind`. A receive that completed without
    /// the provider writing anything (still all zero) is taken from the loopback mailbox when
    /// there is one: the null provider moves no data, and loopback runs still measure it.
    func receive(_ kind: SetupMessage.Kind) throws(PerfError) -> SetupMessage {
        if !self.receivePosted { try self.postReceive() }
        self.receivePosted = false
        let c: SanCompletion
        do {
            c = try self.recvOp.wait(timeoutNanoseconds: self.config.timeoutNanoseconds, strategy: .backoff)
        } catch {
            throw .failed("\(self.side) side: waiting for the peer's \(kind) message: \(error)")
        }
        if let e = c.error { throw .failed("\(self.side) side: receiving the peer's \(kind) message completed with \(e)") }
        let got = UnsafeRawBufferPointer(self.memory.slice(SetupMessage.capacity, Int(min(c.bytes, UInt32(SetupMessage.capacity)))))
        if let m = SetupMessage(got) {
            self.mailbox?.discard(to: self.side)
            guard m.kind == kind else { throw .failed("\(self.side) side: expected a \(kind) message, got \(m.kind)") }
            return m
        }
        let untouched = UnsafeRawBufferPointer(self.memory.slice(SetupMessage.capacity, SetupMessage.capacity)).allSatisfy { $0 == 0 }
        if untouched, let mailbox = self.mailbox,
           let m = mailbox.take(to: self.side, timeoutNanoseconds: self.config.timeoutNanoseconds) {
            self.dataMoved = false
            guard m.kind == kind else { throw .failed("\(self.side) side: expected a \(kind) message, got \(m.kind)") }
            return m
        }
        if untouched {
            throw .failed("\(self.side) side: the peer's \(kind) message never arrived: WSPRecv completed with \(c.bytes) bytes but wrote none (a provider that moves no data, such as null, can only run with --loopback)")
        }
        throw .failed("\(self.side) side: the peer's \(kind) message is malformed (\(c.bytes) bytes): not a sanperf peer, or a different version")
    }
}

/// Loopback runs only: the setup messages each end sent, so an end whose provider delivered no
/// data (null) can still proceed. Used only when the received buffer is untouched.
/// Closing it tells the server thread the client is gone (it stops waiting for messages and for
/// the connection).
final class LoopbackMailbox: Sendable {
    private let queues = Mutex<(toServer: [SetupMessage], toClient: [SetupMessage], closed: Bool)>(([], [], false))

    init() {}

    /// The client finished (or failed): waits for more messages end at once.
    func close() { self.queues.withLock { $0.closed = true } }

    var isClosed: Bool { self.queues.withLock { $0.closed } }

    func put(_ m: SetupMessage, from side: PerfSide) {
        self.queues.withLock { q in
            if side == .client { q.toServer.append(m) } else { q.toClient.append(m) }
        }
    }

    /// Drops the oldest message addressed to `side`: the provider delivered its own copy.
    func discard(to side: PerfSide) {
        self.queues.withLock { q in
            if side == .server, !q.toServer.isEmpty { q.toServer.removeFirst() }
            if side == .client, !q.toClient.isEmpty { q.toClient.removeFirst() }
        }
    }

    /// The oldest message addressed to `side`, waiting up to the timeout.
    func take(to side: PerfSide, timeoutNanoseconds: UInt64) -> SetupMessage? {
        let deadline = perfNow() + timeoutNanoseconds
        while perfNow() < deadline {
            let (m, closed) = self.queues.withLock { q -> (SetupMessage?, Bool) in
                if side == .server { return (q.toServer.isEmpty ? nil : q.toServer.removeFirst(), q.closed) }
                return (q.toClient.isEmpty ? nil : q.toClient.removeFirst(), q.closed)
            }
            if let m { return m }
            if closed { return nil }
            usleep(100)
        }
        return nil
    }
}
