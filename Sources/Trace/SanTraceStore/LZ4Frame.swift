import CLZ4
import SanTraceFormat

/// LZ4 frames (lz4frame.h) for segment blobs: content checksum on (XXH32 of the decompressed
/// body, checked at the end of every decode by our XXH32, XXH32+Unsafe.swift), content size
/// recorded, block checksums off (the segment row's CRC-32C covers the compressed bytes). Unsafe code: calls the C API with
/// raw buffers. One instance per thread; it keeps its contexts and scratch buffers.
public final class LZ4Frame {
    private var cctx: OpaquePointer?
    private var dctx: OpaquePointer?
    /// Compression level passed to LZ4F (0 = fast default; ≥ 3 = LZ4 HC).
    public var level: Int32

    public init(level: Int32 = 0) {
        self.level = level
    }

    deinit {
        if let c = self.cctx { LZ4F_freeCompressionContext(c) }
        if let d = self.dctx { LZ4F_freeDecompressionContext(d) }
    }

    private func preferences(contentSize: Int) -> LZ4F_preferences_t {
        var p = LZ4F_preferences_t()
        p.frameInfo.blockSizeID = LZ4F_max4MB
        p.frameInfo.blockMode = LZ4F_blockLinked
        p.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled
        p.frameInfo.blockChecksumFlag = LZ4F_noBlockChecksum
        p.frameInfo.contentSize = UInt64(contentSize)
        p.compressionLevel = self.level
        // The whole body is handed over at once, so nothing needs buffering: without autoFlush
        // liblz4 1.9 clears a 4 MiB staging buffer (calloc) at every frame, ~800 B per event of
        // a busy trace (callgrind: a fifth of the drain's instructions). Same frame format.
        p.autoFlush = 1
        return p
    }

    /// Compresses `source` into one frame, written to `out` (cleared first).
    public func compress(_ source: UnsafeRawBufferPointer, into out: ByteBuffer) throws(TraceStoreError) {
        var prefs = self.preferences(contentSize: source.count)
        let bound = LZ4F_compressFrameBound(source.count, &prefs)
        out.clear()
        out.reserve(bound)
        if self.cctx == nil {
            var c: OpaquePointer?
            guard LZ4F_isError(LZ4F_createCompressionContext(&c, UInt32(LZ4F_VERSION))) == 0 else {
                throw TraceStoreError.lz4("cannot create a compression context")
            }
            self.cctx = c
        }
        var pos = LZ4F_compressBegin(self.cctx, out.base, bound, &prefs)
        guard LZ4F_isError(pos) == 0 else { throw TraceStoreError.lz4(String(cString: LZ4F_getErrorName(pos))) }
        let n1 = LZ4F_compressUpdate(self.cctx, out.base + pos, bound - pos, source.baseAddress, source.count, nil)
        guard LZ4F_isError(n1) == 0 else { throw TraceStoreError.lz4(String(cString: LZ4F_getErrorName(n1))) }
        pos += n1
        let n2 = LZ4F_compressEnd(self.cctx, out.base + pos, bound - pos, nil)
        guard LZ4F_isError(n2) == 0 else { throw TraceStoreError.lz4(String(cString: LZ4F_getErrorName(n2))) }
        let n = pos + n2
        out.count = n
    }

    /// Decompresses one frame into `out` (cleared first). The frame must declare its content
    /// size, which must be ≤ `limit`; trailing bytes after the frame are an error.
    public func decompress(_ frame: UnsafeRawBufferPointer, into out: ByteBuffer, limit: Int) throws(TraceFormatError) {
        if self.dctx == nil {
            var d: OpaquePointer?
            guard LZ4F_isError(LZ4F_createDecompressionContext(&d, UInt32(LZ4F_VERSION))) == 0 else {
                throw TraceFormatError(.checksum, "cannot create an LZ4 decompression context")
            }
            self.dctx = d
        }
        LZ4F_resetDecompressionContext(self.dctx)
        guard let src = frame.baseAddress, frame.count > 0 else {
            throw TraceFormatError(.checksum, "empty LZ4 frame")
        }
        var info = LZ4F_frameInfo_t()
        var consumed = frame.count
        let hint = LZ4F_getFrameInfo(self.dctx, &info, src, &consumed)
        guard LZ4F_isError(hint) == 0 else {
            throw TraceFormatError(.checksum, "LZ4 frame header: \(String(cString: LZ4F_getErrorName(hint)))", offset: 0)
        }
        guard info.contentSize > 0, info.contentSize <= UInt64(limit) else {
            throw TraceFormatError(.checksum, "LZ4 frame declares \(info.contentSize) bytes (limit \(limit))")
        }
        guard info.contentChecksumFlag == LZ4F_contentChecksumEnabled else {
            throw TraceFormatError(.checksum, "LZ4 frame has no content checksum")
        }
        let size = Int(info.contentSize)
        out.clear()
        out.reserve(size)
        var inPos = consumed
        var outPos = 0
        // liblz4 still reads the content checksum but leaves checking it to us (below): its
        // own XXH32 is several times slower than ours (XXH32+Unsafe.swift).
        var options = LZ4F_decompressOptions_t()
        options.skipChecksums = 1
        while true {
            var dstSize = size - outPos
            var srcSize = frame.count - inPos
            let r = LZ4F_decompress(self.dctx, out.base + outPos, &dstSize, src + inPos, &srcSize, &options)
            guard LZ4F_isError(r) == 0 else {
                throw TraceFormatError(.checksum, "LZ4: \(String(cString: LZ4F_getErrorName(r)))", offset: inPos)
            }
            inPos += srcSize
            outPos += dstSize
            if r == 0 { break }  // frame complete (the content checksum is checked below)
            if srcSize == 0 && dstSize == 0 {
                throw TraceFormatError(.checksum, "LZ4 frame is truncated", offset: inPos)
            }
        }
        guard inPos == frame.count else {
            throw TraceFormatError(.checksum, "\(frame.count - inPos) bytes after the LZ4 frame", offset: inPos)
        }
        guard outPos == size else {
            throw TraceFormatError(.checksum, "LZ4 frame gave \(outPos) bytes, declared \(size)")
        }
        // The frame ends with the content checksum (after the end mark; nothing may follow,
        // checked above): XXH32 of the decompressed body.
        guard frame.count >= consumed + 8 else { throw TraceFormatError(.checksum, "LZ4 frame is truncated", offset: inPos) }
        let stored = UInt32(littleEndian: frame.loadUnaligned(fromByteOffset: frame.count - 4, as: UInt32.self))
        let actual = XXH32.hash(UnsafeRawBufferPointer(start: out.base, count: outPos))
        guard stored == actual else {
            throw TraceFormatError(.checksum, "LZ4 content checksum mismatch (body 0x\(String(actual, radix: 16)), frame 0x\(String(stored, radix: 16)))",
                                   offset: frame.count - 4)
        }
        out.count = outPos
    }
}
