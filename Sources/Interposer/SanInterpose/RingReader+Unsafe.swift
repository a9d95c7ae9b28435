import CSanTrace

/// Reads raw records out of the per-thread rings (the only Swift code touching ring memory).
/// Runs on the drain thread, the single consumer of every ring.
struct RingReader {
    let schema = SchemaTypes()
    /// Records that failed to decode (a bug or memory corruption): skipped, counted.
    private(set) var malformed: UInt64 = 0

    /// Copies every committed record out of every ring (one list per ring, in ring order), hands
    /// the space back, and recycles the rings of exited threads. Returns the number of records.
    mutating func drain(into out: inout [[RawEvent]]) -> Int {
        var count = 0
        var ring = csan_ring_first()
        while let r = ring {
            var list: [RawEvent] = []
            count += self.drainRing(r, into: &list)
            if !list.isEmpty { out.append(list) }
            _ = csan_ring_try_reclaim(r)
            ring = csan_ring_next(r)
        }
        return count
    }

    private mutating func drainRing(_ r: OpaquePointer, into out: inout [RawEvent]) -> Int {
        let head = csan_ring_head(r)
        var pos = csan_ring_tail(r)
        guard pos != head else { return 0 }
        let thread = csan_ring_thread(r)
        var n = 0
        while pos < head {
            let rec = csan_ring_record(r, pos)!
            let size = UInt64(rec.pointee.size)
            guard size >= 8, size % 8 == 0, pos + size <= head else {
                self.malformed += 1  // cannot happen with a correct producer; resynchronise at head
                pos = head
                break
            }
            if rec.pointee.kind != UInt8(CSAN_KIND_PAD) {
                if let e = self.decode(rec, thread: thread) {
                    out.append(e)
                    n += 1
                } else {
                    self.malformed += 1
                }
            }
            pos += size
        }
        csan_ring_release(r, pos)
        return n
    }

    private func decode(_ rec: UnsafePointer<csan_rec_hdr>, thread: UInt32) -> RawEvent? {
        let h = rec.pointee
        var cur = Cursor(base: UnsafeRawPointer(rec), offset: 24, end: Int(h.size))
        var values: [RawValue] = []
        switch Int32(h.kind) {
        case CSAN_KIND_ENTER, CSAN_KIND_LEAVE, CSAN_KIND_UPCALL:
            guard let types = self.schema.types(function: h.function, kind: h.kind) else { return nil }
            values.reserveCapacity(types.count)
            for t in types {
                guard let layout = RawLayout(fieldType: t), let v = cur.read(layout) else { return nil }
                values.append(v)
            }
        case CSAN_KIND_COMPLETION:
            for _ in 0..<5 {
                guard let v = cur.read(.scalar) else { return nil }
                values.append(v)
            }
            guard let p = cur.read(.payload) else { return nil }
            values.append(p)
        case CSAN_KIND_LOOKUP:
            guard let g = cur.read(.guid), let e = cur.read(.scalar), let s = cur.read(.scalar) else { return nil }
            values = [g, e, s]
        default:
            return nil
        }
        return RawEvent(kind: h.kind, function: h.function, flags: h.flags, thread: thread, sequence: h.seq,
                        timestamp: h.tsc, values: values)
    }
}

/// Bounds-checked reads inside one record.
private struct Cursor {
    let base: UnsafeRawPointer
    var offset: Int
    let end: Int

    mutating func u64() -> UInt64? {
        guard self.offset + 8 <= self.end else { return nil }
        defer { self.offset += 8 }
        return self.base.loadUnaligned(fromByteOffset: self.offset, as: UInt64.self)
    }

    mutating func bytes(_ n: Int) -> [UInt8]? {
        let padded = (n + 7) & ~7
        guard n >= 0, self.offset + padded <= self.end else { return nil }
        defer { self.offset += padded }
        return Array(UnsafeRawBufferPointer(start: self.base + self.offset, count: n))
    }

    mutating func read(_ layout: RawLayout) -> RawValue? {
        switch layout {
        case .scalar:
            return self.u64().map { .scalar($0) }
        case .blob:
            guard let len = self.u64(), let stored = self.u64(), stored <= 1 << 30, let b = self.bytes(Int(stored)) else {
                return nil
            }
            return .blob(length: len, b)
        case .bufferList, .bufferListEx:
            guard let count = self.u64(), let stored = self.u64(), stored <= 4096 else { return nil }
            var bufs: [RawBuffer] = []
            bufs.reserveCapacity(Int(stored))
            for _ in 0..<stored {
                guard let len = self.u64(), let addr = self.u64() else { return nil }
                var handle: UInt64 = 0
                if layout == .bufferListEx {
                    guard let h = self.u64() else { return nil }
                    handle = h
                }
                bufs.append(RawBuffer(length: len, address: addr, handle: handle))
            }
            return .buffers(count: count, bufs)
        case .payload:
            guard let mode = self.u64(), mode <= 2, let count = self.u64(), count <= 4096 else { return nil }
            var entries: [TracePayload.Entry] = []
            for _ in 0..<count {
                guard let len = self.u64() else { return nil }
                if mode == 1 {
                    guard let h = self.u64() else { return nil }
                    entries.append(.init(length: len, hash: h, bytes: []))
                } else {
                    guard let stored = self.u64(), stored <= 1 << 30, let b = self.bytes(Int(stored)) else { return nil }
                    entries.append(.init(length: len, hash: 0, bytes: b))
                }
            }
            return .payload(mode: UInt8(mode), entries)
        case .guid:
            return self.bytes(16).map { .guid($0) }
        }
    }
}
