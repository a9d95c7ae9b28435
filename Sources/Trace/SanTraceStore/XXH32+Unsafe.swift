/// XXH32 (seed 0): the LZ4 frame's content checksum (Docs/TraceFormat.md §5), checked by the
/// reader itself rather than by liblz4. Debian's liblz4 1.9.4 was built with its XXH32 loop
/// auto-vectorized for SSE2, which has no 32-bit multiply: each multiply became a chain of
/// shifts and adds, ~0.7 bytes per cycle, a tenth of reading a trace. This scalar version
/// (four independent lanes, `imul`) runs several times faster and gives the same hash.
/// Reimplemented from the published XXH32 algorithm (reference vectors in the tests).
///
/// Unsafe code: reads `bytes` with unaligned loads, each within its `count`.
enum XXH32 {
    static let p1: UInt32 = 0x9E37_79B1, p2: UInt32 = 0x85EB_CA77, p3: UInt32 = 0xC2B2_AE3D
    static let p4: UInt32 = 0x27D4_EB2F, p5: UInt32 = 0x1656_67B1

    @inline(__always) static func rotl(_ x: UInt32, _ r: UInt32) -> UInt32 { (x &<< r) | (x &>> (32 &- r)) }
    @inline(__always) static func round(_ acc: UInt32, _ lane: UInt32) -> UInt32 { rotl(acc &+ lane &* p2, 13) &* p1 }

    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        let n = bytes.count
        guard let base = bytes.baseAddress else { return avalanche(p5) }
        @inline(__always) func u32(_ at: Int) -> UInt32 {
            UInt32(littleEndian: base.loadUnaligned(fromByteOffset: at, as: UInt32.self))
        }
        var i = 0
        var h: UInt32
        if n >= 16 {
            var v1 = p1 &+ p2, v2 = p2, v3: UInt32 = 0, v4 = 0 &- p1
            while i &+ 16 <= n {
                v1 = round(v1, u32(i))
                v2 = round(v2, u32(i &+ 4))
                v3 = round(v3, u32(i &+ 8))
                v4 = round(v4, u32(i &+ 12))
                i &+= 16
            }
            h = rotl(v1, 1) &+ rotl(v2, 7) &+ rotl(v3, 12) &+ rotl(v4, 18)
        } else {
            h = p5
        }
        h &+= UInt32(truncatingIfNeeded: n)
        while i &+ 4 <= n {
            h = rotl(h &+ u32(i) &* p3, 17) &* p4
            i &+= 4
        }
        while i < n {
            h = rotl(h &+ UInt32(base.load(fromByteOffset: i, as: UInt8.self)) &* p5, 11) &* p1
            i &+= 1
        }
        return avalanche(h)
    }

    @inline(__always) static func avalanche(_ x: UInt32) -> UInt32 {
        var h = x
        h ^= h &>> 15
        h &*= p2
        h ^= h &>> 13
        h &*= p3
        h ^= h &>> 16
        return h
    }
}
