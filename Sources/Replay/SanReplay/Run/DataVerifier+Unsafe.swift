import CSanReplay
import SanTraceFormat

#if canImport(Glibc)
import Glibc
#endif

/// Payload bytes: written into a source buffer before a send or RDMA write, verified where they
/// land. Unsafe code: reads and writes the endpoint's memory blocks.
extension ThreadRunner {
    /// Writes an operation's content into its buffer entries (stream positions 0, 1, …).
    @inline(__always)
    func fill(_ op: OpPlan) {
        var position: UInt64 = 0
        for i in Int(op.buffers)..<Int(op.buffers + op.bufferCount) {
            let n = UInt64(self.live.arena[i].length)
            self.write(op.content, into: self.live.memory(i), length: n, position: position)
            position += n
        }
    }

    private func write(_ c: Content, into p: UnsafeMutablePointer<UInt8>, length: UInt64, position: UInt64) {
        var done: UInt64 = 0
        if c.kind == .recorded {
            let bytes = self.plan.recorded[Int(c.recorded)]
            if position < UInt64(bytes.count) {
                let n = min(length, UInt64(bytes.count) - position)
                _ = bytes.withUnsafeBufferPointer { memcpy(p, $0.baseAddress! + Int(position), Int(n)) }
                done = n
            }
        }
        if done < length { csan_replay_fill(p + Int(done), length - done, c.seed, position + done) }
    }

    /// Offset of the first byte of `p[0..<length]` that differs from `c` at `position`, or nil.
    private func verify(_ c: Content, _ p: UnsafePointer<UInt8>, length: UInt64, position: UInt64) -> UInt64? {
        var done: UInt64 = 0
        if c.kind == .recorded {
            let bytes = self.plan.recorded[Int(c.recorded)]
            if position < UInt64(bytes.count) {
                let n = min(length, UInt64(bytes.count) - position)
                let diff = bytes.withUnsafeBufferPointer { b -> UInt64? in
                    let base = b.baseAddress! + Int(position)
                    if memcmp(p, base, Int(n)) == 0 { return nil }
                    for k in 0..<Int(n) where p[k] != base[k] { return UInt64(k) }
                    return nil
                }
                if let diff { return diff }
                done = n
            }
        }
        if done < length {
            let r = csan_replay_verify(p + Int(done), length - done, c.seed, position + done)
            if r >= 0 { return done + UInt64(r) }
        }
        return nil
    }

    private func expectedByte(_ c: Content, _ position: UInt64) -> UInt8 {
        if c.kind == .recorded {
            let bytes = self.plan.recorded[Int(c.recorded)]
            if position < UInt64(bytes.count) { return bytes[Int(position)] }
        }
        return csan_replay_byte(c.seed, position)
    }

    /// Runs the data checks of an operation observed complete.
    func runChecks(_ op: OpPlan) {
        guard op.checkCount > 0 else { return }
        for i in Int(op.checks)..<Int(op.checks + op.checkCount) {
            let check = self.plan.checks[i]
            guard self.control.checksData else {
                self.stats.dataSkipped &+= 1
                continue
            }
            self.stats.dataChecks &+= 1
            self.stats.dataBytesChecked &+= check.length
            if let (at, got) = self.mismatch(check, op) {
                self.stats.dataFailures &+= 1
                self.reportData(check, op, at: at, got: got)
            }
        }
    }

    /// Where a check fails: the offset in the checked bytes and the byte found.
    private func mismatch(_ check: DataCheck, _ op: OpPlan) -> (UInt64, UInt8)? {
        if check.op < 0 {
            let p = (self.live.blocks[Int(check.block)] + Int(check.blockOffset)).assumingMemoryBound(to: UInt8.self)
            if let at = self.verify(check.content, p, length: check.length, position: check.position) { return (at, p[Int(at)]) }
            return nil
        }
        var left = check.length
        var position = check.position
        var offset: UInt64 = 0
        for i in Int(op.buffers)..<Int(op.buffers + op.bufferCount) where left > 0 {
            let n = min(left, UInt64(self.live.arena[i].length))
            let p = self.live.memory(i)
            if let at = self.verify(check.content, p, length: n, position: position) { return (offset + at, p[Int(at)]) }
            left -= n
            position += n
            offset += n
        }
        return nil
    }

    private func reportData(_ check: DataCheck, _ op: OpPlan, at: UInt64, got: UInt8) {
        let expected = self.expectedByte(check.content, check.position + at)
        let what: String
        switch check.what {
        case .receive: what = "message"
        case .rdmaWriteTarget: what = "RDMA-written region"
        case .rdmaRead: what = "RDMA-read buffer"
        }
        var context: [String] = []
        let source = self.control.describe(endpoint: check.sourceEndpoint, origin: check.sourceOrigin)
        if check.what == .rdmaWriteTarget {
            context.append("checked when this message arrived (the writer's next message on the connection)")
            context.append("region bytes [\(check.blockOffset), \(check.blockOffset + check.length)) of memory block \(check.block) of \(self.plan.name), written by \(source)")
        } else if check.what == .receive {
            context.append("the message (\(check.length) bytes) was sent by \(source)")
        } else {
            context.append("read from \(source)'s region at offset \(check.position), \(check.length) bytes")
        }
        let o = self.origin(op.origin)
        self.report(.data, origin: o, function: "\(o?.function.name ?? "operation") data",
                    recorded: "\(what) byte \(at) = 0x\(String(expected, radix: 16))",
                    live: "0x\(String(got, radix: 16)) (first of the \(check.length) checked bytes to differ)",
                    context: context + self.recentCalls())
    }
}
