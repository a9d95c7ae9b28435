import CSanABI
import SanCore

/// A piece of registered memory for a data-path call: address, length and the WSPRegisterMemory
/// handle covering it (WSABUFEX; WSPSend/WSPRecv pass only address and length).
public struct SanBuffer: Sendable, Equatable {
    public var address: UInt
    public var length: UInt32
    public var handle: UInt

    public init(address: UInt, length: UInt32, handle: UInt) {
        self.address = address
        self.length = length
        self.handle = handle
    }

    /// The WSABUF (address and length) WSPSend and WSPRecv take.
    public var wsabuf: WSABUF { WSABUF(len: self.length, buf: UnsafeMutablePointer(bitPattern: self.address)) }
    /// The WSABUFEX (with the registration handle) WSPRdmaWrite and WSPRdmaRead take.
    public var wsabufex: WSABUFEX {
        WSABUFEX(len: self.length, buf: UnsafeMutablePointer(bitPattern: self.address),
                 handle: UnsafeMutableRawPointer(bitPattern: self.handle))
    }
}

/// The data path (reference §3.4): each call starts an operation on `operation` and returns once
/// it is started; wait for it with ``SanOperation/wait(timeoutNanoseconds:strategy:)``. A call
/// that fails to start throws; one that completes inline (returns 0) is remembered as finished.
extension SanSocket {
    /// WSPSend.
    public func send(_ buffers: [SanBuffer], flags: UInt32 = 0, operation: SanOperation) throws(SanSwitchError) {
        var bufs = buffers.map(\.wsabuf)
        var bytes: UInt32 = 0
        var err: Int32 = 0
        operation.prepare()
        operation.started(on: self.value, self.procs.lpWSPGetOverlappedResult)
        let rc = self.procs.lpWSPSend!(self.value, &bufs, UInt32(bufs.count), &bytes, flags, operation.overlapped,
                                       nil, nil, &err)
        try self.started(rc, err, bytes, operation, "WSPSend")
    }

    /// WSPRecv.
    public func recv(_ buffers: [SanBuffer], operation: SanOperation) throws(SanSwitchError) {
        var bufs = buffers.map(\.wsabuf)
        var bytes: UInt32 = 0
        var flags: UInt32 = 0
        var err: Int32 = 0
        operation.prepare()
        operation.started(on: self.value, self.procs.lpWSPGetOverlappedResult)
        let rc = self.procs.lpWSPRecv!(self.value, &bufs, UInt32(bufs.count), &bytes, &flags, operation.overlapped,
                                       nil, nil, &err)
        try self.started(rc, err, bytes, operation, "WSPRecv")
    }

    /// WSPRdmaWrite of the local buffers into the peer's region at `offset`.
    public func rdmaWrite(_ buffers: [SanBuffer], to target: SanRdmaDescriptor, offset: UInt32 = 0,
                         operation: SanOperation) throws(SanSwitchError)
    {
        try self.rdma(buffers, target, offset, operation, write: true)
    }

    /// WSPRdmaRead from the peer's region at `offset` into the local buffers.
    public func rdmaRead(_ buffers: [SanBuffer], from target: SanRdmaDescriptor, offset: UInt32 = 0,
                         operation: SanOperation) throws(SanSwitchError)
    {
        guard self.provider.extensions.rdmaRead != nil else {
            throw .call(function: "WSPRdmaRead", error: .operationNotSupported)
        }
        try self.rdma(buffers, target, offset, operation, write: false)
    }

    private func rdma(_ buffers: [SanBuffer], _ target: SanRdmaDescriptor, _ offset: UInt32, _ operation: SanOperation,
                      write: Bool) throws(SanSwitchError)
    {
        var bufs = buffers.map(\.wsabufex)
        var desc = target.bytes
        var bytes: UInt32 = 0
        var err: Int32 = 0
        operation.prepare()
        operation.started(on: self.value, self.procs.lpWSPGetOverlappedResult)
        let rc = desc.withUnsafeMutableBytes { d -> Int32 in
            if write {
                return self.provider.extensions.rdmaWrite(self.value, &bufs, UInt32(bufs.count), d.baseAddress,
                                                           UInt32(d.count), offset, &bytes, 0, operation.overlapped,
                                                           nil, nil, &err)
            }
            return self.provider.extensions.rdmaRead!(self.value, &bufs, UInt32(bufs.count), d.baseAddress,
                                                      UInt32(d.count), offset, &bytes, 0, operation.overlapped,
                                                      nil, nil, &err)
        }
        try self.started(rc, err, bytes, operation, write ? "WSPRdmaWrite" : "WSPRdmaRead")
    }

    /// Interprets a data-path call's return: pending, finished inline, or failed to start.
    func started(_ rc: Int32, _ err: Int32, _ bytes: UInt32, _ operation: SanOperation, _ function: String)
        throws(SanSwitchError)
    {
        if rc == 0 {
            // Completed inline. In upcall mode the provider still reports it through the upcall;
            // in poll mode WSPGetOverlappedResult answers it. Remember it for a provider that
            // does neither for inline completions.
            if operation.isPending { operation.inlineResult = SanCompletion(bytes: bytes) }
            return
        }
        if err == WSA_IO_PENDING { return }
        throw .call(function: function, error: WSAError(err))
    }
}
