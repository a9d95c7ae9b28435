import CSanABI
import SanCore

/// A caller's buffer list, copied out of WSABUF / WSABUFEX arrays so it can outlive the call
/// (the arrays themselves belong to the caller and may be reused once the call returns; the
/// memory they describe stays the caller's until the operation completes).
public struct SanBufferSegment: Sendable, Equatable {
    public var address: UInt
    public var length: UInt32
    /// The WSPRegisterMemory handle (WSABUFEX), or the covering registration's handle (WSABUF).
    public var handle: UInt

    public init(address: UInt, length: UInt32, handle: UInt) {
        self.address = address
        self.length = length
        self.handle = handle
    }
}

public enum SanBuffers {
    /// The largest buffer count a provider accepts in one call (verbs SGE limits are of this order).
    public static let maxCount: UInt32 = 64

    /// Copies and checks a WSABUFEX array against the socket's registrations.
    public static func segments(_ buffers: UnsafeMutablePointer<WSABUFEX>?, count: UInt32, needs: SanAccess,
                                registrations: RegistrationTable) -> Result<[SanBufferSegment], WSAError> {
        guard count <= Self.maxCount else { return .failure(.invalidArgument) }
        guard count == 0 || buffers != nil else { return .failure(.fault) }
        var out: [SanBufferSegment] = []
        out.reserveCapacity(Int(count))
        for i in 0..<Int(count) {
            let b = buffers![i]
            let addr = UInt(bitPattern: b.buf)
            let handle = UInt(bitPattern: b.handle)
            if b.len > 0 {
                if case .failure(let e) = registrations.check(handle: handle, address: addr, count: UInt(b.len), needs: needs) {
                    return .failure(e)
                }
            }
            out.append(SanBufferSegment(address: addr, length: b.len, handle: handle))
        }
        return .success(out)
    }

    /// Copies and checks a plain WSABUF array: every entry must lie in a registration of the
    /// socket with the needed access (WSPSend/WSPRecv buffers are registered, reference §3.1).
    public static func segments(_ buffers: UnsafeMutablePointer<WSABUF>?, count: UInt32, needs: SanAccess,
                                registrations: RegistrationTable) -> Result<[SanBufferSegment], WSAError> {
        guard count <= Self.maxCount else { return .failure(.invalidArgument) }
        guard count == 0 || buffers != nil else { return .failure(.fault) }
        var out: [SanBufferSegment] = []
        out.reserveCapacity(Int(count))
        for i in 0..<Int(count) {
            let b = buffers![i]
            let addr = UInt(bitPattern: b.buf)
            var handle: UInt = 0
            if b.len > 0 {
                guard let reg = registrations.covering(address: addr, count: UInt(b.len), needs: needs) else {
                    return .failure(.fault)
                }
                handle = reg.handle
            }
            out.append(SanBufferSegment(address: addr, length: b.len, handle: handle))
        }
        return .success(out)
    }

    /// The total length of a segment list, or nil if it overflows 32 bits.
    public static func total(_ segments: [SanBufferSegment]) -> UInt32? {
        var sum: UInt64 = 0
        for s in segments { sum += UInt64(s.length) }
        return sum <= UInt64(UInt32.max) ? UInt32(sum) : nil
    }
}
