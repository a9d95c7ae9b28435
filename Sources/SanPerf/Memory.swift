#if canImport(Glibc)
import Glibc
#endif

/// Page-aligned memory owned by a workload, freed by ``free()``. Buffers handed to a provider must
/// outlive every operation using them, so workloads free them only after closing their socket.
struct PerfMemory {
    let bytes: UnsafeMutableRawBufferPointer

    init(size: Int, fill: UInt8 = 0) {
        self.bytes = .allocate(byteCount: max(size, 1), alignment: 4096)
        self.bytes.initializeMemory(as: UInt8.self, repeating: fill)
    }

    func free() { self.bytes.deallocate() }

    /// A slice as its own buffer pointer.
    func slice(_ offset: Int, _ length: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: self.bytes[offset..<(offset + length)])
    }
}

/// The monotonic clock in nanoseconds.
@inline(__always)
func perfNow() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}
