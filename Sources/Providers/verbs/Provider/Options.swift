import CSanABI
import SanCore
import SanProviderKit

/// WSPGetSockOpt and WSPSetSockOpt: the SAN limits (SO_MAX_MSG_SIZE, SO_MAX_RDMA_SIZE,
/// SO_RDMA_THRESHOLD_SIZE) and the verbs options of ``VerbsSocketOption``.
extension VerbsProvider {
    func getSockOpt(_ s: SOCKET, _ level: Int32, _ name: Int32, _ value: UnsafeMutablePointer<CChar>?,
                    _ length: UnsafeMutablePointer<Int32>?, _ lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard let sock = self.sockets.lookup(s) else { return sanFail(lpErrno, .notSocket) }
        guard level == SOL_SOCKET_WSA, let option = VerbsSocketOption(rawValue: name) else {
            let limits = sock.io.withLock { d in
                d.connection.map { c in
                    SanSocketLimits(maxMessageSize: c.maxMessageSize, maxRdmaSize: c.maxMessageSize,
                                    rdmaThreshold: self.limits.rdmaThreshold)
                }
            } ?? self.limits
            return limits.getSockOpt(level: level, name: name, value: value, length: length, lpErrno: lpErrno)
        }
        // Once connected, what is in use; before, what was set.
        let inUse = sock.io.withLock { d in
            d.connection.map { c in
                VerbsSelection(deviceName: c.device.name, port: c.port.number, gidIndex: c.local.gidIndex)
            }
        }
        let bytes = option.value(of: inUse ?? sock.control.withLock { $0.selection })
        guard let value, let length, Int(length.pointee) >= bytes.count else {
            length?.pointee = Int32(bytes.count)
            return sanFail(lpErrno, .fault)
        }
        bytes.withUnsafeBytes { UnsafeMutableRawPointer(value).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        length.pointee = Int32(bytes.count)
        lpErrno?.pointee = 0
        return 0
    }

    /// The verbs options are checked and stored; other options are accepted and ignored, as the
    /// switch replays every option it stored for the TCP socket (reference §4.2) and a refusal
    /// would send the connection back to TCP.
    func setSockOpt(_ s: SOCKET, _ level: Int32, _ name: Int32, _ value: UnsafePointer<CChar>?, _ length: Int32,
                    _ lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard let sock = self.sockets.lookup(s) else { return sanFail(lpErrno, .notSocket) }
        guard level == SOL_SOCKET_WSA, VerbsSocketOption.range.contains(name) else { return 0 }
        guard let option = VerbsSocketOption(rawValue: name) else { return sanFail(lpErrno, .noProtocolOption) }
        guard length >= 0, length <= 256, length == 0 || value != nil else { return sanFail(lpErrno, .fault) }
        let bytes = length == 0 ? [] : Array(UnsafeRawBufferPointer(start: value, count: Int(length)))
        let error = sock.control.withLock { c -> WSAError? in
            switch c.phase {
            case .created, .bound: return option.apply(bytes, to: &c.selection)
            case .connected, .connecting: return .isConnected
            case .listening, .closed: return .invalidArgument
            }
        }
        if let error { return sanFail(lpErrno, error) }
        lpErrno?.pointee = 0
        return 0
    }
}
