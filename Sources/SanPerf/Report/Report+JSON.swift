extension PerfReport {
    /// One JSON object (stable keys; new keys may be added, none removed or renamed):
    /// `test`, `provider`, `provider_path`, `side`, `placement`, `size`, `iters`, `tx_depth`,
    /// `completion`, `wait`, `bytes`, `seconds`, `bw_mib_s`, `bw_gbps`, `msg_rate`,
    /// `lat_ns` {`min`, `p50`, `avg`, `p99`, `p999`, `max`} (null when not measured on this
    /// side), `lat_meaning`, `data_moved`, and when present `raw_tcp` (the same measurement keys),
    /// `ratio` {`bw`, `lat_p50`, `lat_avg`}, `calls` (reg_churn: one object per call kind).
    public var json: String {
        var o = JSONObject()
        o.add("test", .string(self.test.rawValue))
        o.add("provider", .string(self.provider))
        o.add("provider_path", .string(self.providerPath))
        o.add("side", .string(self.side.rawValue))
        o.add("placement", .string(self.placement))
        o.add("size", .int(self.size))
        o.add("iters", .int(self.iterations))
        o.add("tx_depth", .int(self.txDepth))
        o.add("completion", .string(self.completion.rawValue))
        o.add("wait", .string(self.wait.rawValue))
        Self.addMeasurement(self.measurement, to: &o)
        o.add("lat_meaning", .string(self.test.latencyMeaning))
        o.add("data_moved", .bool(self.dataMoved))
        if let raw = self.rawTCP {
            var r = JSONObject()
            Self.addMeasurement(raw, to: &r)
            o.add("raw_tcp", .object(r))
            var ratio = JSONObject()
            ratio.add("bw", self.bandwidthRatio.map { .number($0) } ?? .null)
            ratio.add("lat_p50", self.latencyRatios.map { .number($0.p50) } ?? .null)
            ratio.add("lat_avg", self.latencyRatios.map { .number($0.average) } ?? .null)
            o.add("ratio", .object(ratio))
        }
        if !self.churn.isEmpty {
            var calls = JSONObject()
            for c in self.churn {
                var k = JSONObject()
                k.add("count", .int(Int(c.count)))
                k.add("seconds", .number(c.seconds))
                k.add("ops_s", .number(c.opsPerSecond))
                k.add("lat_ns", Self.latency(c.latency))
                calls.add(c.kind, .object(k))
            }
            o.add("calls", .object(calls))
        }
        return JSONValue.object(o).encoded
    }

    static func addMeasurement(_ m: PerfMeasurement, to o: inout JSONObject) {
        o.add("bytes", .int(Int(m.bytes)))
        o.add("seconds", .number(m.seconds))
        o.add("bw_mib_s", .number(m.mebibytesPerSecond))
        o.add("bw_gbps", .number(m.gigabitsPerSecond))
        o.add("msg_rate", .number(m.messageRate))
        o.add("lat_ns", Self.latency(m.latency))
    }

    static func latency(_ l: LatencySummary?) -> JSONValue {
        var o = JSONObject()
        o.add("min", l.map { .number($0.min) } ?? .null)
        o.add("p50", l.map { .number($0.p50) } ?? .null)
        o.add("avg", l.map { .number($0.average) } ?? .null)
        o.add("p99", l.map { .number($0.p99) } ?? .null)
        o.add("p999", l.map { .number($0.p999) } ?? .null)
        o.add("max", l.map { .number($0.max) } ?? .null)
        return .object(o)
    }
}

/// The little JSON sanperf writes (no Foundation in libraries).
indirect enum JSONValue {
    case string(String), int(Int), number(Double), bool(Bool), null, object(JSONObject)

    var encoded: String {
        switch self {
        case .string(let s): return JSONValue.quote(s)
        case .int(let i): return String(i)
        case .number(let d): return Format.general(d)
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .object(let o): return "{" + o.members.map { JSONValue.quote($0.0) + ":" + $0.1.encoded }.joined(separator: ",") + "}"
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}

/// Keys in insertion order.
struct JSONObject {
    var members: [(String, JSONValue)] = []
    mutating func add(_ key: String, _ value: JSONValue) { self.members.append((key, value)) }
}
