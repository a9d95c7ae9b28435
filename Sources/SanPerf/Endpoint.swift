#if canImport(Glibc)
import Glibc
#endif
import CSanABI
import SanCore
import SanSwitch

/// One end of a sanperf connection: the provider socket, the completion machinery the run asked
/// for (poll, or upcall through one shared event) and the control channel for setup messages.
final class PerfEndpoint {
    let provider: SanProvider
    let socket: SanSocket
    let config: PerfConfig
    let side: PerfSide
    /// The event every upcall-mode operation of this end reports to.
    let event = SanEvent()
    let control: ControlChannel
    /// False once a setup message came through the loopback mailbox instead of the provider.
    var dataMoved: Bool { self.control.dataMoved }
    private var scratch: [UInt] = []

    init(provider: SanProvider, socket: SanSocket, config: PerfConfig, side: PerfSide,
         mailbox: LoopbackMailbox?) throws(PerfError) {
        self.provider = provider
        self.socket = socket
        self.config = config
        self.side = side
        self.control = try ControlChannel(socket: socket, config: config, side: side, mailbox: mailbox)
        self.scratch.reserveCapacity(4096)
    }

    /// A fresh operation slot in the run's completion mode.
    func operation() -> SanOperation {
        SanOperation(mode: self.config.completion == .upcall ? .upcall(self.event) : .poll)
    }

    /// Waits for `op` with the run's strategy and timeout; throws when it failed. Returns bytes.
    @discardableResult
    func complete(_ op: SanOperation, _ what: StaticString) throws(PerfError) -> UInt32 {
        let c: SanCompletion
        do {
            c = try op.wait(timeoutNanoseconds: self.config.timeoutNanoseconds, strategy: self.config.wait.strategy)
        } catch {
            throw .failed("\(self.side) side: \(what): \(error)")
        }
        if case .upcall = op.mode { self.event.drainCompleted(into: &self.scratch) }
        if let e = c.error { throw .failed("\(self.side) side: \(what) completed with \(e)") }
        return c.bytes
    }

    /// Closes the socket (pending operations complete with WSA_OPERATION_ABORTED) and the event.
    func close() {
        self.control.deregister()
        try? self.socket.close()
        self.control.free()
    }
}

/// Starts an operation, turning a switch error into a run failure.
@inline(__always)
func perfStart(_ what: StaticString, _ side: PerfSide, _ body: () throws(SanSwitchError) -> Void) throws(PerfError) {
    do { try body() } catch { throw .failed("\(side) side: \(what): \(error)") }
}
