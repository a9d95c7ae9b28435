import CSanABI
import SanCore
import SanProviderKit

/// WSPSend, WSPRecv, WSPRdmaWrite, WSPRdmaRead: checked, then completed inline.
extension NullProvider {
    func connected(_ s: SOCKET) -> Result<NullSocket, WSAError> {
        guard let sock = self.sockets.lookup(s) else { return .failure(.notSocket) }
        guard sock.phase.withLock({ $0 }) == .connected else { return .failure(.notConnected) }
        return .success(sock)
    }

    /// Completes an operation of `bytes` at once: through the overlapped structure (and then
    /// returns SOCKET_ERROR / WSA_IO_PENDING, as providers that complete later do) or, without
    /// one, synchronously through `lpBytes`.
    func finish(_ sock: NullSocket, bytes: UInt32, ov: UnsafeMutablePointer<WSAOVERLAPPED>?,
                lpBytes: UnsafeMutablePointer<UInt32>?, lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard let ov else {
            lpBytes?.pointee = bytes
            lpErrno?.pointee = 0
            return 0
        }
        self.completer.begin(ov)
        self.completer.complete(ov, switchSocket: sock.switchSocket, upcalls: self.upcalls, error: nil, bytes: bytes)
        return sanFail(lpErrno, .ioPending)
    }

    func send(_ s: SOCKET, _ buffers: UnsafeMutablePointer<WSABUF>?, _ count: UInt32,
              _ lpBytes: UnsafeMutablePointer<UInt32>?, _ ov: UnsafeMutablePointer<WSAOVERLAPPED>?,
              _ lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        self.transfer(s, buffers, count, needs: .read, lpBytes, ov, lpErrno)
    }

    func recv(_ s: SOCKET, _ buffers: UnsafeMutablePointer<WSABUF>?, _ count: UInt32,
              _ lpBytes: UnsafeMutablePointer<UInt32>?, _ lpFlags: UnsafeMutablePointer<UInt32>?,
              _ ov: UnsafeMutablePointer<WSAOVERLAPPED>?, _ lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        lpFlags?.pointee = 0
        return self.transfer(s, buffers, count, needs: .write, lpBytes, ov, lpErrno)
    }

    private func transfer(_ s: SOCKET, _ buffers: UnsafeMutablePointer<WSABUF>?, _ count: UInt32, needs: SanAccess,
                          _ lpBytes: UnsafeMutablePointer<UInt32>?, _ ov: UnsafeMutablePointer<WSAOVERLAPPED>?,
                          _ lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        let sock: NullSocket
        switch self.connected(s) {
        case .success(let x): sock = x
        case .failure(let e): return sanFail(lpErrno, e)
        }
        switch SanBuffers.segments(buffers, count: count, needs: needs, registrations: sock.registrations) {
        case .failure(let e): return sanFail(lpErrno, e)
        case .success(let segs):
            guard let total = SanBuffers.total(segs), total <= self.limits.maxMessageSize else {
                return sanFail(lpErrno, .messageSize)
            }
            return self.finish(sock, bytes: total, ov: ov, lpBytes: lpBytes, lpErrno: lpErrno)
        }
    }

    func rdma(_ s: SOCKET, _ buffers: UnsafeMutablePointer<WSABUFEX>?, _ count: UInt32,
              _ descriptor: UnsafeMutableRawPointer?, _ descriptorLength: UInt32, _ offset: UInt32,
              _ lpBytes: UnsafeMutablePointer<UInt32>?, _ ov: UnsafeMutablePointer<WSAOVERLAPPED>?,
              isWrite: Bool, _ lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        let sock: NullSocket
        switch self.connected(s) {
        case .success(let x): sock = x
        case .failure(let e): return sanFail(lpErrno, e)
        }
        guard let desc = NullDescriptor(descriptor, length: descriptorLength) else {
            return sanFail(lpErrno, .invalidArgument)
        }
        // A write reads the local buffers and needs the peer's MEM_WRITE; a read the reverse.
        let local: SanAccess = isWrite ? .read : .write
        let remote: SanAccess = isWrite ? .write : .read
        switch SanBuffers.segments(buffers, count: count, needs: local, registrations: sock.registrations) {
        case .failure(let e): return sanFail(lpErrno, e)
        case .success(let segs):
            guard let total = SanBuffers.total(segs), total <= self.limits.maxRdmaSize else {
                return sanFail(lpErrno, .messageSize)
            }
            guard SanAccess(rawValue: desc.access).contains(remote),
                  UInt64(offset) + UInt64(total) <= desc.length else { return sanFail(lpErrno, .fault) }
            return self.finish(sock, bytes: total, ov: ov, lpBytes: lpBytes, lpErrno: lpErrno)
        }
    }

    func getOverlappedResult(_ s: SOCKET, _ ov: UnsafeMutablePointer<WSAOVERLAPPED>?, _ lpcb: UnsafeMutablePointer<UInt32>?,
                             _ wait: Int32, _ lpFlags: UnsafeMutablePointer<UInt32>?,
                             _ lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard self.sockets.lookup(s) != nil else { return sanFailBool(lpErrno, .notSocket) }
        return self.completer.getOverlappedResult(ov, lpcb, wait: wait != 0, lpFlags, lpErrno)
    }
}
