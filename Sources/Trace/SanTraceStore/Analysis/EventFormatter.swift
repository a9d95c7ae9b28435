import CSanABI
import JSONText
import SanCore
import SanTraceFormat

/// Prints events one per line like strace (`sanreplay dump`), or as JSON Lines. Names for
/// functions, flags, ioctl codes, socket options, WSA errors and completion modes.
public struct EventFormatter {
    let reader: TraceReader
    let firstTSC: UInt64
    private var pairing = CallPairing()

    public init(reader: TraceReader) {
        self.reader = reader
        self.firstTSC = reader.firstTSC
    }

    /// One text line for `r` (feed events in trace order: LEAVEs and COMPLETIONs show the time
    /// since the call that started them).
    public mutating func line(_ r: EventRecord) -> String {
        let start = self.pairing.observe(r)
        let t = Double(self.reader.clock.nanoseconds(from: self.firstTSC, to: r.tsc)) / 1e9
        var head = pad(String(r.sequence), 8) + " " + fixed(t, 9) + " t\(r.thread) "
        let defs = r.definitions
        let fields = (0..<r.fieldCount).map { i in (i < defs.count ? defs[i].name : "f\(i)") + "=" + Self.text(r, i, defs) }
        switch r.kind {
        case .enter:
            head += "> \(r.function.name)(" + fields.joined(separator: ", ") + ")"
        case .leave:
            head += "< \(r.function.name) " + fields.joined(separator: " ")
        case .upcall:
            head += "^ \(r.function.name)(" + fields.joined(separator: ", ") + ")"
        case .completion:
            let fn = r.index(of: "function").map { FunctionID(UInt16(truncatingIfNeeded: r.value($0))).name } ?? "?"
            head += "* completion \(fn) " + fields.filter { !$0.hasPrefix("function=") }.joined(separator: " ")
        case .lookup:
            head += "? lookup " + fields.joined(separator: " ")
        }
        if let s = start {
            head += " <" + Self.duration(self.reader.clock.nanoseconds(from: s.tsc, to: r.tsc)) + ">"
        }
        return head
    }

    /// One JSON object (a JSON Lines line) for `r`. Keys: seq, t_ns, tsc, thread, thread_seq,
    /// kind, function, fields (by name), and start_seq / latency_ns when paired.
    public mutating func json(_ r: EventRecord) -> String {
        let start = self.pairing.observe(r)
        var o = JSONObject()
        o.add("seq", r.sequence)
        o.add("t_ns", self.reader.clock.nanoseconds(from: self.firstTSC, to: r.tsc))
        o.add("tsc", r.tsc)
        o.add("thread", UInt64(r.thread))
        o.add("thread_seq", r.threadSeq)
        o.add("kind", r.kind.description)
        if r.function != .none { o.add("function", r.function.name) }
        var f = JSONObject()
        let defs = r.definitions
        for i in 0..<r.fieldCount {
            f.add(i < defs.count ? defs[i].name : "f\(i)", raw: Self.json(r, i, defs))
        }
        o.add("fields", f)
        if let s = start {
            o.add("start_seq", s.sequence)
            o.add("latency_ns", self.reader.clock.nanoseconds(from: s.tsc, to: r.tsc))
        }
        return o.text
    }

    static func text(_ r: EventRecord, _ i: Int, _ defs: [FieldDefinition]) -> String {
        guard let t = r.type(i) else { return "?" }
        let def = i < defs.count ? defs[i] : nil
        switch t {
        case .i32:
            if def?.name == "opt", let n = Schema.sockoptNames[Int32(truncatingIfNeeded: r.signed(i))] { return n }
            return String(r.signed(i))
        case .wsaError:
            let e = r.signed(i)
            return e == 0 ? "0" : WSAError(Int32(truncatingIfNeeded: e)).name
        case .flags:
            guard let table = def?.flagTable else { return "0x" + String(r.value(i), radix: 16) }
            return Schema.flagNames(r.value(i), table: table)
        case .bool: return r.value(i) == 0 ? "false" : "true"
        case .completionMode: return ["sync", "upcall", "poll"][Int(min(r.value(i), 2))]
        case .completionVia: return ["?", "upcall", "poll", "inline"][Int(min(r.value(i), 3))]
        case .address:
            let a = r.address(i)!
            return address(a.registration, a.offset)
        case .callRef:
            let c = r.callRef(i)!
            return c.thread == 0 ? "-" : "t\(c.thread)#\(c.sequence)"
        case .bufferList, .bufferListEx:
            let list = r.buffers(i) ?? []
            return "[" + list.map { b in
                "\(b.length)@" + address(b.registration, b.offset) + (t == .bufferListEx ? " h\(b.handle)" : "")
            }.joined(separator: ", ") + "]"
        case .sockaddr: return SockaddrText.format(r.bytes(i)!)
        case .guid:
            let b = Array(r.bytes(i)!)
            return GUID(bytes: b).map { $0.registryFormat } ?? hex(b[...])
        case .bytes, .descriptorBytes:
            let b = Array(r.bytes(i)!)
            if t == .bytes, b.count > 1, b.last == 0, b.dropLast().allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) {
                return "\"" + String(decoding: b.dropLast(), as: UTF8.self) + "\""
            }
            return b.count <= 32 ? "<" + hex(b[...]) + ">" : "<" + hex(b[0..<32]) + "…(\(b.count) bytes)>"
        case .payload:
            switch r.payload(i)! {
            case .none: return "-"
            case .hashes(let hs): return "[" + hs.map { "#" + String($0, radix: 16) }.joined(separator: ", ") + "]"
            case .full(let chunks): return "[" + chunks.map { "\($0.count) bytes" }.joined(separator: ", ") + "]"
            }
        default:
            return String(r.value(i))
        }
    }

    static func json(_ r: EventRecord, _ i: Int, _ defs: [FieldDefinition]) -> String {
        guard let t = r.type(i) else { return "null" }
        switch t {
        case .i32, .wsaError: return String(r.signed(i))
        case .bool: return r.value(i) == 0 ? "false" : "true"
        case .address:
            let a = r.address(i)!
            var o = JSONObject()
            o.add("registration", a.registration)
            o.add("offset", a.offset)
            return o.text
        case .callRef:
            let c = r.callRef(i)!
            var o = JSONObject()
            o.add("thread", UInt64(c.thread))
            o.add("thread_seq", c.sequence)
            return o.text
        case .bufferList, .bufferListEx:
            return jsonArray((r.buffers(i) ?? []).map { b in
                var o = JSONObject()
                o.add("length", UInt64(b.length))
                o.add("registration", b.registration)
                o.add("offset", b.offset)
                if t == .bufferListEx { o.add("handle", b.handle) }
                return o.text
            })
        case .sockaddr: return jsonString(SockaddrText.format(r.bytes(i)!))
        case .guid, .bytes, .descriptorBytes: return jsonString(hex(Array(r.bytes(i)!)[...]))
        case .payload:
            switch r.payload(i)! {
            case .none: return "null"
            case .hashes(let hs): return jsonArray(hs.map { jsonString(String($0, radix: 16)) })
            case .full(let chunks): return jsonArray(chunks.map { jsonString(hex($0[...])) })
            }
        case .flags:
            if let table = i < defs.count ? defs[i].flagTable : nil {
                return jsonString(Schema.flagNames(r.value(i), table: table))
            }
            return String(r.value(i))
        default: return String(r.value(i))
        }
    }

    static func address(_ reg: UInt64, _ off: UInt64) -> String {
        reg == 0 ? "0x" + String(off, radix: 16) : "r\(reg)+0x" + String(off, radix: 16)
    }

    static func hex(_ b: ArraySlice<UInt8>) -> String { b.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() }

    /// `1.234 µs`, `12.3 ms`.
    public static func duration(_ ns: Int64) -> String {
        let a = Double(ns)
        if abs(a) < 1_000 { return "\(ns) ns" }
        if abs(a) < 1_000_000 { return fixed(a / 1e3, 3) + " µs" }
        if abs(a) < 1_000_000_000 { return fixed(a / 1e6, 3) + " ms" }
        return fixed(a / 1e9, 3) + " s"
    }
}

/// `x` with exactly `digits` decimals (no Foundation `String(format:)`).
public func fixed(_ x: Double, _ digits: Int) -> String {
    guard x.isFinite, abs(x) < 1e15 else { return x.isNaN ? "nan" : String(saturatingInt64(x)) }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let v = (abs(x) * scale).rounded()
    let whole = UInt64(v / scale)
    let frac = UInt64(v - Double(whole) * scale)
    let f = String(frac)
    let sign = x < 0 && v != 0 ? "-" : ""
    return digits == 0 ? sign + String(whole) : sign + "\(whole)." + String(repeating: "0", count: max(0, digits - f.count)) + f
}

func pad(_ s: String, _ n: Int) -> String { String(repeating: " ", count: max(0, n - s.count)) + s }
