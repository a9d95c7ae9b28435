import CSanABI
import SanCore

/// The SAN socket options a provider answers (reference §4.3): the largest WSPSend, the largest
/// RDMA request and the preferred RDMA threshold.
public struct SanSocketLimits: Sendable {
    public var maxMessageSize: UInt32
    public var maxRdmaSize: UInt32
    public var rdmaThreshold: UInt32

    public init(maxMessageSize: UInt32, maxRdmaSize: UInt32, rdmaThreshold: UInt32) {
        self.maxMessageSize = maxMessageSize
        self.maxRdmaSize = maxRdmaSize
        self.rdmaThreshold = rdmaThreshold
    }

    /// WSPGetSockOpt for SOL_SOCKET (0xffff) SO_MAX_MSG_SIZE / SO_MAX_RDMA_SIZE /
    /// SO_RDMA_THRESHOLD_SIZE: a 32-bit value, WSAEFAULT when `optlen` is too small, WSAENOPROTOOPT
    /// for anything else.
    public func getSockOpt(level: Int32, name: Int32, value: UnsafeMutablePointer<CChar>?,
                           length: UnsafeMutablePointer<Int32>?, lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard level == SOL_SOCKET_WSA else { return sanFail(lpErrno, .noProtocolOption) }
        let answer: UInt32
        switch name {
        case SO_MAX_MSG_SIZE: answer = self.maxMessageSize
        case SO_MAX_RDMA_SIZE: answer = self.maxRdmaSize
        case SO_RDMA_THRESHOLD_SIZE: answer = self.rdmaThreshold
        default: return sanFail(lpErrno, .noProtocolOption)
        }
        guard let value, let length, length.pointee >= 4 else { return sanFail(lpErrno, .fault) }
        UnsafeMutableRawPointer(value).storeBytes(of: answer, as: UInt32.self)
        length.pointee = 4
        lpErrno?.pointee = 0
        return 0
    }
}
