/// The 30 slots of WSPPROC_TABLE in table order (reference §2; [MW-SPI]). The raw value is the
/// slot index, so `slot.rawValue * 8` is its byte offset on x86-64.
public enum SanProcSlot: Int, CaseIterable, Sendable, CustomStringConvertible {
    case accept = 0, addressToString, asyncSelect, bind, cancelBlockingCall, cleanup, closeSocket, connect
    case duplicateSocket, enumNetworkEvents, eventSelect, getOverlappedResult, getPeerName, getSockName
    case getSockOpt, getQOSByName, ioctl, joinLeaf, listen, recv, recvDisconnect, recvFrom, select, send
    case sendDisconnect, sendTo, setSockOpt, shutdown, socket, stringToAddress

    /// The C function name, `"WSPGetOverlappedResult"`.
    public var functionName: String {
        switch self {
        case .accept: return "WSPAccept"
        case .addressToString: return "WSPAddressToString"
        case .asyncSelect: return "WSPAsyncSelect"
        case .bind: return "WSPBind"
        case .cancelBlockingCall: return "WSPCancelBlockingCall"
        case .cleanup: return "WSPCleanup"
        case .closeSocket: return "WSPCloseSocket"
        case .connect: return "WSPConnect"
        case .duplicateSocket: return "WSPDuplicateSocket"
        case .enumNetworkEvents: return "WSPEnumNetworkEvents"
        case .eventSelect: return "WSPEventSelect"
        case .getOverlappedResult: return "WSPGetOverlappedResult"
        case .getPeerName: return "WSPGetPeerName"
        case .getSockName: return "WSPGetSockName"
        case .getSockOpt: return "WSPGetSockOpt"
        case .getQOSByName: return "WSPGetQOSByName"
        case .ioctl: return "WSPIoctl"
        case .joinLeaf: return "WSPJoinLeaf"
        case .listen: return "WSPListen"
        case .recv: return "WSPRecv"
        case .recvDisconnect: return "WSPRecvDisconnect"
        case .recvFrom: return "WSPRecvFrom"
        case .select: return "WSPSelect"
        case .send: return "WSPSend"
        case .sendDisconnect: return "WSPSendDisconnect"
        case .sendTo: return "WSPSendTo"
        case .setSockOpt: return "WSPSetSockOpt"
        case .shutdown: return "WSPShutdown"
        case .socket: return "WSPSocket"
        case .stringToAddress: return "WSPStringToAddress"
        }
    }

    /// The 17 functions a SAN provider must implement (reference §3.1). The switch refuses a
    /// provider that leaves one of them NULL, except WSPGetQOSByName, which it does not check.
    public static let required: [SanProcSlot] = [
        .accept, .bind, .cleanup, .closeSocket, .connect, .duplicateSocket, .enumNetworkEvents, .eventSelect,
        .getOverlappedResult, .getQOSByName, .getSockOpt, .ioctl, .listen, .recv, .send, .setSockOpt, .socket,
    ]

    public var description: String { self.functionName }
}
