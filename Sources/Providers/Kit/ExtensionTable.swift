import CSanABI
import SanCore

/// Answers `WSPIoctl(SIO_GET_EXTENSION_FUNCTION_POINTER)` (reference §1.0): the GUID in
/// `lpvInBuffer` (16 bytes), the pointer in `lpvOutBuffer`. The socket is not dereferenced: the
/// switch passes INVALID_SOCKET. An optional extension a provider lacks answers WSAEOPNOTSUPP;
/// an unknown GUID answers WSAEINVAL, as IBSP does.
public struct ExtensionTable: @unchecked Sendable {
    private var pointers: [SanExtension: UnsafeRawPointer] = [:]

    public init() {}

    /// Registers an extension's C function pointer.
    public mutating func set(_ ext: SanExtension, _ fn: UnsafeRawPointer) { self.pointers[ext] = fn }

    /// Handles the ioctl if it is SIO_GET_EXTENSION_FUNCTION_POINTER; returns nil otherwise so the
    /// provider can handle other codes.
    public func handle(code: UInt32, input: UnsafeMutableRawPointer?, inputLength: UInt32,
                       output: UnsafeMutableRawPointer?, outputLength: UInt32,
                       bytesReturned: UnsafeMutablePointer<UInt32>?, lpErrno: UnsafeMutablePointer<Int32>?) -> Int32? {
        guard code == SIO_GET_EXTENSION_FUNCTION_POINTER else { return nil }
        guard let input, inputLength >= UInt32(MemoryLayout<GUID>.size) else { return sanFail(lpErrno, .fault) }
        guard let output, outputLength >= UInt32(MemoryLayout<UnsafeRawPointer>.size) else {
            return sanFail(lpErrno, .fault)
        }
        let guid = input.loadUnaligned(as: GUID.self)
        guard let ext = SanExtension(guid: guid) else { return sanFail(lpErrno, .invalidArgument) }
        guard let fn = self.pointers[ext] else { return sanFail(lpErrno, .operationNotSupported) }
        output.storeBytes(of: fn, as: UnsafeRawPointer.self)
        bytesReturned?.pointee = UInt32(MemoryLayout<UnsafeRawPointer>.size)
        lpErrno?.pointee = 0
        return 0
    }
}

/// Answers SIO_ADDRESS_LIST_QUERY (reference §4.1) with a SOCKET_ADDRESS_LIST whose sockaddrs
/// follow the list in the same output buffer. Returns WSAEFAULT with the required size in
/// `bytesReturned` when the buffer is too small.
public func sanAnswerAddressListQuery(addresses: [[UInt8]], output: UnsafeMutableRawPointer?, outputLength: UInt32,
                                      bytesReturned: UnsafeMutablePointer<UInt32>?,
                                      lpErrno: UnsafeMutablePointer<Int32>?) -> Int32 {
    let header = MemoryLayout<SOCKET_ADDRESS_LIST>.size
        + max(0, addresses.count - 1) * MemoryLayout<SOCKET_ADDRESS>.stride
    let aligned = (header + 7) & ~7
    let total = aligned + addresses.reduce(0) { $0 + (($1.count + 7) & ~7) }
    bytesReturned?.pointee = UInt32(total)
    guard let output, Int(outputLength) >= total else { return sanFail(lpErrno, .fault) }
    output.initializeMemory(as: UInt8.self, repeating: 0, count: total)
    output.storeBytes(of: Int32(addresses.count), as: Int32.self)
    let entries = output.advanced(by: MemoryLayout<SOCKET_ADDRESS_LIST>.offset(of: \.Address)!)
    var cursor = aligned
    for (i, addr) in addresses.enumerated() {
        let dst = output.advanced(by: cursor)
        addr.withUnsafeBytes { dst.copyMemory(from: $0.baseAddress!, byteCount: addr.count) }
        let entry = entries.advanced(by: i * MemoryLayout<SOCKET_ADDRESS>.stride)
        entry.storeBytes(of: SOCKET_ADDRESS(lpSockaddr: dst.assumingMemoryBound(to: sockaddr.self),
                                            iSockaddrLength: Int32(addr.count)), as: SOCKET_ADDRESS.self)
        cursor += (addr.count + 7) & ~7
    }
    lpErrno?.pointee = 0
    return 0
}
