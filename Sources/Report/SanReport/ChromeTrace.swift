import JSONText
import SanCore
import SanDiff
import SanTraceFormat
import SanTraceStore

/// Chrome trace-event JSON ("Trace Event Format", the JSON Perfetto UI and chrome://tracing
/// load): per trace a process (pid = the recorded pid), per thread a track; each call is a
/// complete slice (`ph: X`) from ENTER to LEAVE; each completion a short slice on the thread that
/// observed it (thread 0, "inline completions", for those derived from the call itself), joined
/// to the call that started the operation by a flow arrow (`ph: s` → `ph: f`, binding to the
/// enclosing slices); upcalls and extension look-ups are instant events; calls that never
/// returned are open slices (`ph: B`). Timestamps in microseconds since the first event of the
/// set, on the traces' wall clocks (so a client and its server line up).
enum ChromeTrace {
    struct Open {
        var function: FunctionID
        var tsc: UInt64
        var seq: UInt64
        var threadSeq: UInt64
        var socket: UInt64
        var bytes: UInt64
    }

    /// The wall-clock time of a trace's first event, ns since the epoch (meta anchors, §4).
    static func wallClockStart(_ r: TraceReader) -> Int64 {
        r.clock.anchorRealtimeNs &+ r.clock.nanoseconds(from: r.clock.anchorTSC, to: r.firstTSC)
    }

    /// Writes one trace's events; its time line starts `offsetNs` after the set's first event.
    static func write(_ path: String, offsetNs: Int64, to out: OutputFile, first: inout Bool, pids: inout Set<Int64>,
                      progress: ((UInt64) -> Void)?) throws -> UInt64 {
        let reader = try TraceReader(path: path)
        var pid = reader.meta["pid"].flatMap { Int64($0) } ?? 1
        while pids.contains(pid) { pid += 1_000_000 }  // two traces of one pid (several hosts) stay apart
        pids.insert(pid)
        let p = String(pid)
        let clock = reader.clock, origin = reader.firstTSC
        func us(_ tsc: UInt64) -> String { Self.micros(offsetNs &+ clock.nanoseconds(from: origin, to: tsc)) }
        func emit(_ s: String) {
            out.write(first ? s : ",\n" + s)
            first = false
        }
        let program = reader.argv.first.map { $0.split(separator: "/").last.map(String.init) ?? $0 } ?? "trace"
        emit("{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":\(p),\"args\":{\"name\":" + jsonString("\(program) [\(path)]") + "}}")
        var named = Set<UInt32>()
        func nameThread(_ t: UInt32) {
            guard named.insert(t).inserted else { return }
            let name = t == 0 ? "inline completions" : "thread \(t)"
            emit("{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":\(p),\"tid\":\(t),\"args\":{\"name\":\"\(name)\"}}")
            emit("{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":\(p),\"tid\":\(t),\"args\":{\"sort_index\":\(t == 0 ? 1 << 20 : Int(t))}}")
        }
        let roles = ShapeRoles.shared
        var stacks: [UInt32: [Open]] = [:]
        var n: UInt64 = 0
        try reader.forEach { r in
            let ro = roles.roles(r)
            nameThread(r.thread)
            let tid = String(r.thread)
            switch r.kind {
            case .enter:
                var bytes: UInt64 = 0
                if ro.buffers >= 0, let b = r.bufferTotals(Int(ro.buffers)) { bytes = b.bytes }
                stacks[r.thread, default: []].append(Open(function: r.function, tsc: r.tsc, seq: r.sequence, threadSeq: r.threadSeq,
                                                           socket: ro.socket >= 0 ? r.value(Int(ro.socket)) : 0, bytes: bytes))
            case .leave:
                guard var stack = stacks[r.thread], let i = stack.lastIndex(where: { $0.function == r.function }) else { break }
                let o = stack[i]
                stack.removeSubrange(i...)
                stacks[r.thread] = stack
                let err = ro.error >= 0 ? r.signed(Int(ro.error)) : 0
                let dur = Self.micros(clock.nanoseconds(from: o.tsc, to: r.tsc))
                var args = "\"seq\":\(o.seq)"
                if o.socket != 0 { args += ",\"socket\":\(o.socket)" }
                if o.bytes != 0 { args += ",\"bytes\":\(o.bytes)" }
                if err != 0 { args += ",\"error\":\"" + WSAError(Int32(truncatingIfNeeded: err)).name + "\"" }
                emit("{\"name\":\"\(r.function.name)\",\"cat\":\"call\",\"ph\":\"X\",\"ts\":\(us(o.tsc)),\"dur\":\(dur),\"pid\":\(p),\"tid\":\(tid),\"args\":{\(args)}}")
                // The flow of an operation starts inside its call's slice.
                if ro.startsOperation, err == 997 || err == 0 {
                    emit("{\"name\":\"operation\",\"cat\":\"operation\",\"ph\":\"s\",\"id\":\(Self.flowID(r.thread, o.threadSeq)),\"ts\":\(us(o.tsc)),\"pid\":\(p),\"tid\":\(tid)}")
                }
            case .completion:
                let fn = r.subjectFunction(ro)
                let status = ro.error >= 0 ? r.signed(Int(ro.error)) : 0
                var args = "\"seq\":\(r.sequence)"
                if ro.bytes >= 0 { args += ",\"bytes\":\(r.value(Int(ro.bytes)))" }
                if status != 0 { args += ",\"error\":\"" + WSAError(Int32(truncatingIfNeeded: status)).name + "\"" }
                emit("{\"name\":\"completion \(fn.name)\",\"cat\":\"completion\",\"ph\":\"X\",\"ts\":\(us(r.tsc)),\"dur\":0.001,\"pid\":\(p),\"tid\":\(tid),\"args\":{\(args)}}")
                if ro.start >= 0, let ref = r.callRef(Int(ro.start)), ref.thread != 0 {
                    emit("{\"name\":\"operation\",\"cat\":\"operation\",\"ph\":\"f\",\"bp\":\"e\",\"id\":\(Self.flowID(ref.thread, ref.sequence)),\"ts\":\(us(r.tsc)),\"pid\":\(p),\"tid\":\(tid)}")
                }
            case .upcall:
                emit("{\"name\":\"\(r.function.name)\",\"cat\":\"upcall\",\"ph\":\"i\",\"s\":\"t\",\"ts\":\(us(r.tsc)),\"pid\":\(p),\"tid\":\(tid)}")
            case .lookup:
                emit("{\"name\":\"extension lookup\",\"cat\":\"lookup\",\"ph\":\"i\",\"s\":\"t\",\"ts\":\(us(r.tsc)),\"pid\":\(p),\"tid\":\(tid)}")
            }
            n += 1
            if n & 0xFFFF == 0 { progress?(0x10000) }
        }
        // Calls that never returned stay visible as open slices.
        for (t, stack) in stacks.sorted(by: { $0.key < $1.key }) {
            for o in stack {
                emit("{\"name\":\"\(o.function.name)\",\"cat\":\"call\",\"ph\":\"B\",\"ts\":\(us(o.tsc)),\"pid\":\(p),\"tid\":\(t),\"args\":{\"seq\":\(o.seq),\"returned\":false}}")
            }
        }
        progress?(n & 0xFFFF)
        return n
    }

    /// The flow id of an operation: its starting ENTER's (thread, thread sequence), which both
    /// the call (at its LEAVE) and the completion (its `start` field) know.
    static func flowID(_ thread: UInt32, _ threadSeq: UInt64) -> UInt64 { UInt64(thread) << 44 | (threadSeq & ((1 << 44) - 1)) }

    /// Microseconds with nanosecond decimals (`12.345`), no Foundation formatting.
    static func micros(_ ns: Int64) -> String {
        let a = ns < 0 ? -ns : ns
        let frac = a % 1000
        let f = frac < 10 ? "00\(frac)" : (frac < 100 ? "0\(frac)" : "\(frac)")
        return (ns < 0 ? "-" : "") + "\(a / 1000).\(f)"
    }
}
