import CSanABI
import SanCore
import Synchronization

/// The WSPEventSelect / WSPEnumNetworkEvents state of one socket (reference §4.2): which event
/// object and which FD_* bits the switch selected, and which network events happened since the
/// last enumeration, with their error codes.
public final class NetworkEvents: Sendable {
    private struct State {
        var event: UInt = 0
        var mask: Int32 = 0
        var pending: Int32 = 0
        var errors = [Int32](repeating: 0, count: Int(FD_MAX_EVENTS))
    }
    private let state = Mutex(State())

    public init() {}

    /// WSPEventSelect: stores the event and mask; network events already pending and selected
    /// signal the new event at once.
    public func select(event: WSAEVENT?, mask: Int32, upcalls: ProviderUpcalls) {
        let fire = self.state.withLock { s -> Bool in
            s.event = UInt(bitPattern: event)
            s.mask = mask
            return s.pending & mask != 0
        }
        if fire { upcalls.setEvent(event) }
    }

    /// The selected mask.
    public var mask: Int32 { self.state.withLock { $0.mask } }

    /// Records that network event `bit` (FD_CONNECT_BIT, FD_ACCEPT_BIT, …) happened with `error`
    /// and signals the selected event if the bit is selected.
    public func signal(bit: Int32, error: WSAError?, upcalls: ProviderUpcalls) {
        let event = self.state.withLock { s -> UInt? in
            s.pending |= 1 << bit
            s.errors[Int(bit)] = error?.rawValue ?? 0
            return s.mask & (1 << bit) != 0 ? s.event : nil
        }
        if let event, event != 0 { upcalls.setEvent(WSAEVENT(bitPattern: event)) }
    }

    /// Clears a pending network event without reporting it (e.g. the last pending connection on
    /// a listening socket was accepted).
    public func clear(bit: Int32) { self.state.withLock { $0.pending &= ~(1 << bit) } }

    /// WSPEnumNetworkEvents: reports and clears the pending events and resets `event` (the one
    /// the caller passes, which may differ from the selected one).
    public func enumerate(into out: UnsafeMutablePointer<WSANETWORKEVENTS>, reset event: WSAEVENT?,
                          upcalls: ProviderUpcalls) {
        let (pending, errors) = self.state.withLock { s -> (Int32, [Int32]) in
            let r = (s.pending, s.errors)
            s.pending = 0
            s.errors = [Int32](repeating: 0, count: Int(FD_MAX_EVENTS))
            return r
        }
        out.pointee.lNetworkEvents = pending
        withUnsafeMutableBytes(of: &out.pointee.iErrorCode) { raw in
            let codes = raw.bindMemory(to: Int32.self)
            for i in 0..<codes.count { codes[i] = errors[i] }
        }
        upcalls.resetEvent(event)
    }
}
