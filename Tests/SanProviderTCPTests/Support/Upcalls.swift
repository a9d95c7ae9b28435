import CSanABI
import SanSwitch

/// The tests run the provider under SanSwitch's upcall table (eventfd events, switch handles,
/// the completion upcall); these are the few views of it they need.
typealias TestEvent = SanEvent

extension SanEvent {
    /// True when set within 10 s.
    func wait() -> Bool { self.wait(timeoutMilliseconds: 10_000) }
}

/// What the provider called back, per switch socket (SanSwitch's upcall log, on for the whole
/// test process; tests filter it by their own handles).
enum UpcallLog {
    static func enable() { SanUpcallRegistry.shared.enableLog() }

    static func names(_ handle: SOCKET) -> [String] { SanUpcallRegistry.shared.log(for: handle).map(\.name) }

    /// True when WPUCloseSocketHandle was called exactly once for `handle` and was its last upcall.
    static func closedLast(_ handle: SOCKET) -> Bool {
        let names = self.names(handle)
        return names.last == "WPUCloseSocketHandle" && names.filter { $0 == "WPUCloseSocketHandle" }.count == 1
    }

    /// The WPUCompleteOverlappedRequest upcalls for `handle`, as their error codes.
    static func completions(_ handle: SOCKET) -> [Int32] {
        SanUpcallRegistry.shared.log(for: handle).filter { $0.name == "WPUCompleteOverlappedRequest" }.map(\.error)
    }
}
