#if canImport(Glibc)
import Glibc
#endif
import CSanABI
import SanCore

/// What one WSPIoctl call answered, without interpretation (for conformance checks).
public struct SanIoctlResult: Sendable, Equatable {
    /// nil when the call returned 0.
    public var error: WSAError?
    /// `*lpcbBytesReturned` after the call (the size needed, when the buffer was too small).
    public var bytesReturned: UInt32
    /// The output buffer after the call.
    public var output: [UInt8]
    /// Where the output buffer was during the call: pointers the provider wrote into it (the
    /// entries of a SOCKET_ADDRESS_LIST) are relative to this address.
    public var outputAddress: UInt
}

extension SanSocket {
    /// WSPIoctl with plain in and out bytes, no overlapped structure.
    public func ioctl(_ code: UInt32, input: [UInt8] = [], outputLength: Int) -> SanIoctlResult {
        var inBytes = input
        var out = [UInt8](repeating: 0, count: outputLength)
        var returned: UInt32 = 0
        var err: Int32 = 0
        var at: UInt = 0
        let rc = inBytes.withUnsafeMutableBytes { i in
            out.withUnsafeMutableBytes { o in
                at = UInt(bitPattern: o.baseAddress)
                return self.procs.lpWSPIoctl!(self.value, code, input.isEmpty ? nil : i.baseAddress, UInt32(i.count),
                                       outputLength == 0 ? nil : o.baseAddress, UInt32(o.count), &returned,
                                       nil, nil, nil, &err)
            }
        }
        return SanIoctlResult(error: rc == 0 ? nil : WSAError(err), bytesReturned: returned, output: out,
                              outputAddress: at)
    }

    /// WSPIoctl(SIO_ADDRESS_LIST_QUERY): the local addresses the provider serves (reference §4.1),
    /// decoded from the SOCKET_ADDRESS_LIST it wrote. Asks once with `capacity` bytes and again
    /// with the size the provider said it needs.
    public func addressList(capacity: Int = 512) throws(SanSwitchError) -> [SanAddress] {
        var r = self.ioctl(SIO_ADDRESS_LIST_QUERY, outputLength: capacity)
        if r.error == .fault, Int(r.bytesReturned) > capacity {
            r = self.ioctl(SIO_ADDRESS_LIST_QUERY, outputLength: Int(r.bytesReturned))
        }
        if let e = r.error { throw .call(function: "WSPIoctl(SIO_ADDRESS_LIST_QUERY)", error: e) }
        guard let list = SanAddressList(r.output, writtenAt: r.outputAddress) else {
            throw .call(function: "WSPIoctl(SIO_ADDRESS_LIST_QUERY)", error: .fault)
        }
        return list.addresses
    }
}

/// A SOCKET_ADDRESS_LIST decoded from the bytes a provider wrote: every entry's sockaddr must lie
/// inside those bytes (its pointer is an address inside the caller's output buffer, which was at
/// `writtenAt` during the call).
public struct SanAddressList: Sendable, Equatable {
    public var addresses: [SanAddress]

    /// Decodes `bytes`, the whole output buffer, which was at `writtenAt` when the provider filled
    /// it. nil when the count or an entry is out of bounds.
    public init?(_ bytes: [UInt8], writtenAt base: UInt) {
        guard bytes.count >= MemoryLayout<SOCKET_ADDRESS_LIST>.size else { return nil }
        var found: [SanAddress] = []
        let ok = bytes.withUnsafeBytes { raw -> Bool in
            let count = Int(raw.loadUnaligned(as: Int32.self))
            let first = MemoryLayout<SOCKET_ADDRESS_LIST>.offset(of: \.Address)!
            let stride = MemoryLayout<SOCKET_ADDRESS>.stride
            guard count >= 0, first + count * stride <= raw.count else { return false }
            for i in 0..<count {
                let entry = raw.loadUnaligned(fromByteOffset: first + i * stride, as: SOCKET_ADDRESS.self)
                let at = UInt(bitPattern: entry.lpSockaddr)
                let len = Int(entry.iSockaddrLength)
                guard at >= base, len > 0, at - base + UInt(len) <= UInt(raw.count) else { return false }
                let off = Int(at - base)
                found.append(SanAddress(bytes: Array(raw[off..<(off + len)])))
            }
            return true
        }
        guard ok else { return nil }
        self.addresses = found
    }
}
