import SanCore

/// The four operations the provider posts, one per SPI data call.
public enum VerbsOperationKind: UInt8, Sendable, CustomStringConvertible {
    case send = 1, receive, rdmaWrite, rdmaRead

    /// True when the work completion's `byte_len` is the transferred size. For sends and RDMA
    /// writes it is not defined (ibv_poll_cq(3)), so the provider reports what it posted.
    public var completionCarriesLength: Bool { self == .receive || self == .rdmaRead }

    public var description: String {
        switch self {
        case .send: return "send"
        case .receive: return "receive"
        case .rdmaWrite: return "RDMA write"
        case .rdmaRead: return "RDMA read"
        }
    }
}

/// `enum ibv_wc_status` values the mapping distinguishes (libibverbs ABI; a test checks them).
public enum VerbsCompletionStatus {
    /// `IBV_WC_SUCCESS`
    public static let success: UInt32 = 0
    /// `IBV_WC_WR_FLUSH_ERR`: the QP went to the error state with this request outstanding.
    public static let flushed: UInt32 = 5

    /// `ibv_wc_status_str` names, for the one log line a fatal completion gets.
    public static func name(_ status: UInt32) -> String {
        let names = [
            "SUCCESS", "LOC_LEN_ERR", "LOC_QP_OP_ERR", "LOC_EEC_OP_ERR", "LOC_PROT_ERR", "WR_FLUSH_ERR",
            "MW_BIND_ERR", "BAD_RESP_ERR", "LOC_ACCESS_ERR", "REM_INV_REQ_ERR", "REM_ACCESS_ERR", "REM_OP_ERR",
            "RETRY_EXC_ERR", "RNR_RETRY_EXC_ERR", "LOC_RDD_VIOL_ERR", "REM_INV_RD_REQ_ERR", "REM_ABORT_ERR",
            "INV_EECN_ERR", "INV_EEC_STATE_ERR", "FATAL_ERR", "RESP_TIMEOUT_ERR", "GENERAL_ERR",
        ]
        return status < UInt32(names.count) ? "IBV_WC_" + names[Int(status)] : "IBV_WC status \(status)"
    }
}

/// The overlapped result of one work completion.
public struct VerbsCompletionResult: Equatable, Sendable {
    /// nil for success; goes to `OffsetHigh` / the completion upcall.
    public var error: WSAError?
    public var bytes: UInt32
    /// True when the socket must be marked failed (later calls report `error`).
    public var failsSocket: Bool

    public init(error: WSAError?, bytes: UInt32, failsSocket: Bool) {
        self.error = error
        self.bytes = bytes
        self.failsSocket = failsSocket
    }
}

/// Work-completion status → overlapped result, exactly as the reference's completion mapping
/// (§5.3, following IBSP's ibsp_iblow.c): success → the byte count (`byte_len` for receives and
/// RDMA reads, the posted sum for sends and RDMA writes); WR_FLUSH_ERR → WSA_OPERATION_ABORTED with
/// 0 bytes; any other status → WSAECONNABORTED with 0 bytes and the socket marked failed.
public enum VerbsCompletionMapping {
    public static func result(status: UInt32, kind: VerbsOperationKind, completionLength: UInt32,
                              postedLength: UInt32) -> VerbsCompletionResult {
        switch status {
        case VerbsCompletionStatus.success:
            return VerbsCompletionResult(error: nil, bytes: kind.completionCarriesLength ? completionLength : postedLength,
                                         failsSocket: false)
        case VerbsCompletionStatus.flushed:
            return VerbsCompletionResult(error: .operationAborted, bytes: 0, failsSocket: false)
        default:
            return VerbsCompletionResult(error: .connectionAborted, bytes: 0, failsSocket: true)
        }
    }
}
