import CSanABI
import SanCore

/// The data path without allocation, for hot loops (benchmarks, the replayer): the caller owns
/// the WSABUF / WSABUFEX arrays and the descriptor bytes, and keeps them valid and unchanged for
/// the duration of the call (the provider copies what it needs before returning, reference
/// §3.4). No array is built, no closure captured; errors are thrown exactly as by the checked
/// forms (``send(_:flags:operation:)`` and friends), which remain the default choice.
extension SanSocket {
    /// WSPSend of `count` caller-owned WSABUFs.
    @inline(__always)
    public func sendUnchecked(_ buffers: UnsafeMutablePointer<WSABUF>, count: Int, flags: UInt32 = 0,
                              operation: SanOperation) throws(SanSwitchError)
    {
        var bytes: UInt32 = 0
        var err: Int32 = 0
        operation.prepare()
        operation.started(on: self.value, self.procs.lpWSPGetOverlappedResult)
        let rc = self.procs.lpWSPSend!(self.value, buffers, UInt32(count), &bytes, flags, operation.overlapped,
                                       nil, nil, &err)
        try self.started(rc, err, bytes, operation, "WSPSend")
    }

    /// WSPRecv into `count` caller-owned WSABUFs.
    @inline(__always)
    public func recvUnchecked(_ buffers: UnsafeMutablePointer<WSABUF>, count: Int, operation: SanOperation)
        throws(SanSwitchError)
    {
        var bytes: UInt32 = 0
        var flags: UInt32 = 0
        var err: Int32 = 0
        operation.prepare()
        operation.started(on: self.value, self.procs.lpWSPGetOverlappedResult)
        let rc = self.procs.lpWSPRecv!(self.value, buffers, UInt32(count), &bytes, &flags, operation.overlapped,
                                       nil, nil, &err)
        try self.started(rc, err, bytes, operation, "WSPRecv")
    }

    /// WSPRdmaWrite of `count` caller-owned WSABUFEXs into the peer's region described by
    /// `descriptor` (the peer's WSPRegisterRdmaMemory bytes), at `offset`.
    @inline(__always)
    public func rdmaWriteUnchecked(_ buffers: UnsafeMutablePointer<WSABUFEX>, count: Int,
                                   descriptor: UnsafeMutableRawBufferPointer, offset: UInt32 = 0,
                                   operation: SanOperation) throws(SanSwitchError)
    {
        var bytes: UInt32 = 0
        var err: Int32 = 0
        operation.prepare()
        operation.started(on: self.value, self.procs.lpWSPGetOverlappedResult)
        let rc = self.provider.extensions.rdmaWrite(self.value, buffers, UInt32(count), descriptor.baseAddress,
                                                     UInt32(descriptor.count), offset, &bytes, 0,
                                                     operation.overlapped, nil, nil, &err)
        try self.started(rc, err, bytes, operation, "WSPRdmaWrite")
    }

    /// WSPRdmaRead from the peer's region described by `descriptor`, at `offset`, into `count`
    /// caller-owned WSABUFEXs. Throws WSAEOPNOTSUPP when the provider lacks WSPRdmaRead.
    @inline(__always)
    public func rdmaReadUnchecked(_ buffers: UnsafeMutablePointer<WSABUFEX>, count: Int,
                                  descriptor: UnsafeMutableRawBufferPointer, offset: UInt32 = 0,
                                  operation: SanOperation) throws(SanSwitchError)
    {
        guard let read = self.provider.extensions.rdmaRead else {
            throw .call(function: "WSPRdmaRead", error: .operationNotSupported)
        }
        var bytes: UInt32 = 0
        var err: Int32 = 0
        operation.prepare()
        operation.started(on: self.value, self.procs.lpWSPGetOverlappedResult)
        let rc = read(self.value, buffers, UInt32(count), descriptor.baseAddress, UInt32(descriptor.count), offset,
                      &bytes, 0, operation.overlapped, nil, nil, &err)
        try self.started(rc, err, bytes, operation, "WSPRdmaRead")
    }
}

/// Registration without allocation, for registration benchmarks and the replayer.
extension SanSocket {
    /// WSPRegisterRdmaMemory into a caller-owned descriptor block (no size probe: call
    /// ``rdmaDescriptorSize(for:access:)`` first). Returns the descriptor length the provider
    /// stored.
    @inline(__always)
    public func registerRdmaUnchecked(_ buffer: UnsafeMutableRawBufferPointer, access: SanAccess,
                                      descriptor: UnsafeMutableRawBufferPointer) throws(SanSwitchError) -> Int
    {
        var len = UInt32(descriptor.count)
        var err: Int32 = 0
        let rc = self.provider.extensions.registerRdmaMemory(self.value, buffer.baseAddress, UInt32(buffer.count),
                                                              access.rawValue, descriptor.baseAddress, &len, &err)
        try self.check(rc, err, "WSPRegisterRdmaMemory")
        return Int(len)
    }

    /// WSPDeregisterRdmaMemory of a caller-owned descriptor block.
    @inline(__always)
    public func deregisterRdmaUnchecked(_ descriptor: UnsafeMutableRawBufferPointer) throws(SanSwitchError) {
        var err: Int32 = 0
        let rc = self.provider.extensions.deregisterRdmaMemory(self.value, descriptor.baseAddress,
                                                                UInt32(descriptor.count), &err)
        try self.check(rc, err, "WSPDeregisterRdmaMemory")
    }
}
