import CSanABI
import SanCore

/// A WSPRegisterMemory registration: the handle and the range it covers.
public struct SanMemoryRegistration: Sendable, Equatable {
    public var handle: UInt
    public var base: UInt
    public var length: UInt32
    public var access: SanAccess

    /// A WSABUFEX for [base + offset, base + offset + length).
    public func buffer(offset: UInt32 = 0, length: UInt32? = nil) -> SanBuffer {
        SanBuffer(address: self.base + UInt(offset), length: length ?? (self.length - offset), handle: self.handle)
    }
}

/// The descriptor WSPRegisterRdmaMemory returned: opaque bytes the peer passes to its
/// WSPRdmaWrite / WSPRdmaRead (reference §1.4).
public struct SanRdmaDescriptor: Sendable, Equatable, Hashable {
    public var bytes: [UInt8]
    public init(bytes: [UInt8]) { self.bytes = bytes }
}

extension SanSocket {
    /// WSPRegisterMemory.
    public func register(_ buffer: UnsafeMutableRawBufferPointer, access: SanAccess) throws(SanSwitchError)
        -> SanMemoryRegistration
    {
        var err: Int32 = 0
        let h = self.provider.extensions.registerMemory(self.value, buffer.baseAddress, UInt32(buffer.count),
                                                         access.rawValue, &err)
        guard let h else { throw .call(function: "WSPRegisterMemory", error: WSAError(err)) }
        return SanMemoryRegistration(handle: UInt(bitPattern: h), base: UInt(bitPattern: buffer.baseAddress),
                                     length: UInt32(buffer.count), access: access)
    }

    /// WSPDeregisterMemory.
    public func deregister(_ registration: SanMemoryRegistration) throws(SanSwitchError) {
        try self.deregister(handle: registration.handle)
    }

    /// WSPDeregisterMemory by handle value.
    public func deregister(handle: UInt) throws(SanSwitchError) {
        var err: Int32 = 0
        let rc = self.provider.extensions.deregisterMemory(self.value, UnsafeMutableRawPointer(bitPattern: handle), &err)
        try self.check(rc, err, "WSPDeregisterMemory")
    }

    /// The descriptor size the provider needs: the probe call with a zero-length block, which
    /// answers WSAEFAULT and the size (reference §1.4).
    public func rdmaDescriptorSize(for buffer: UnsafeMutableRawBufferPointer, access: SanAccess) throws(SanSwitchError)
        -> UInt32
    {
        var len: UInt32 = 0
        var err: Int32 = 0
        let rc = self.provider.extensions.registerRdmaMemory(self.value, buffer.baseAddress, UInt32(buffer.count),
                                                              access.rawValue, nil, &len, &err)
        if rc == 0 { return len }
        guard err == WSAEFAULT, len > 0 else { throw .call(function: "WSPRegisterRdmaMemory", error: WSAError(err)) }
        return len
    }

    /// WSPRegisterRdmaMemory: probes the size, then registers. `access` is what the peer may do.
    public func registerRdma(_ buffer: UnsafeMutableRawBufferPointer, access: SanAccess) throws(SanSwitchError)
        -> SanRdmaDescriptor
    {
        var len = try self.rdmaDescriptorSize(for: buffer, access: access)
        var bytes = [UInt8](repeating: 0, count: Int(len))
        var err: Int32 = 0
        let rc = bytes.withUnsafeMutableBytes {
            self.provider.extensions.registerRdmaMemory(self.value, buffer.baseAddress, UInt32(buffer.count),
                                                         access.rawValue, $0.baseAddress, &len, &err)
        }
        try self.check(rc, err, "WSPRegisterRdmaMemory")
        return SanRdmaDescriptor(bytes: Array(bytes.prefix(Int(len))))
    }

    /// WSPDeregisterRdmaMemory.
    public func deregisterRdma(_ descriptor: SanRdmaDescriptor) throws(SanSwitchError) {
        var copy = descriptor.bytes
        var err: Int32 = 0
        let rc = copy.withUnsafeMutableBytes {
            self.provider.extensions.deregisterRdmaMemory(self.value, $0.baseAddress, UInt32($0.count), &err)
        }
        try self.check(rc, err, "WSPDeregisterRdmaMemory")
    }
}

extension SanProvider {
    /// WSPMemoryRegistrationCacheCallback; throws WSAEOPNOTSUPP when the provider lacks it.
    public func releaseCachedRegistrations(_ buffer: UnsafeMutableRawBufferPointer) throws(SanSwitchError) {
        guard let fn = self.extensions.memoryRegistrationCacheCallback else {
            throw .call(function: "WSPMemoryRegistrationCacheCallback", error: .operationNotSupported)
        }
        var err: Int32 = 0
        if fn(buffer.baseAddress, buffer.count, &err) != 0 {
            throw .call(function: "WSPMemoryRegistrationCacheCallback", error: WSAError(err))
        }
    }
}
