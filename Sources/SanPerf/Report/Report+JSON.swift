import JSONText

extension PerfReport {
    /// One JSON object (stable keys; new keys may be added, none removed or renamed):
    /// `test`, `provider`, `provider_path`, `side`, `placement`, `size`, `iters`, `tx_depth`,
    /// `completion`, `wait`, `bytes`, `seconds`, `bw_mib_s`, `bw_gbps`, `msg_rate`,
    /// `lat_ns` {`min`, `p50`, `avg`, `p99`, `p999`, `max`} (null when not measured on this
    /// side), `lat_meaning`, `data_moved`, and when present `raw_tcp` (the same measurement keys),
    /// `ratio` {`bw`, `lat_p50`, `lat_avg`}, `calls` (reg_churn: one object per call kind).
    public var json: String {
        var o = JSONObject()
        o.add("test", self.test.rawValue)
        o.add("provider", self.provider)
        o.add("provider_path", self.providerPath)
        o.add("side", self.side.rawValue)
        o.add("placement", self.placement)
        o.add("size", self.size)
        o.add("iters", self.iterations)
        o.add("tx_depth", self.txDepth)
        o.add("completion", self.completion.rawValue)
        o.add("wait", self.wait.rawValue)
        Self.addMeasurement(self.measurement, to: &o)
        o.add("lat_meaning", self.test.latencyMeaning)
        o.add("data_moved", self.dataMoved)
        if let raw = self.rawTCP {
            var r = JSONObject()
            Self.addMeasurement(raw, to: &r)
            o.add("raw_tcp", r)
            var ratio = JSONObject()
            ratio.add("bw", number: self.bandwidthRatio)
            ratio.add("lat_p50", number: self.latencyRatios?.p50)
            ratio.add("lat_avg", number: self.latencyRatios?.average)
            o.add("ratio", ratio)
        }
        if !self.churn.isEmpty {
            var calls = JSONObject()
            for c in self.churn {
                var k = JSONObject()
                k.add("count", Int(c.count))
                k.add("seconds", number: c.seconds)
                k.add("ops_s", number: c.opsPerSecond)
                k.add("lat_ns", Self.latency(c.latency))
                calls.add(c.kind, k)
            }
            o.add("calls", calls)
        }
        return o.text
    }

    static func addMeasurement(_ m: PerfMeasurement, to o: inout JSONObject) {
        o.add("bytes", Int(m.bytes))
        o.add("seconds", number: m.seconds)
        o.add("bw_mib_s", number: m.mebibytesPerSecond)
        o.add("bw_gbps", number: m.gigabitsPerSecond)
        o.add("msg_rate", number: m.messageRate)
        o.add("lat_ns", Self.latency(m.latency))
    }

    static func latency(_ l: LatencySummary?) -> JSONObject {
        var o = JSONObject()
        o.add("min", number: l?.min)
        o.add("p50", number: l?.p50)
        o.add("avg", number: l?.average)
        o.add("p99", number: l?.p99)
        o.add("p999", number: l?.p999)
        o.add("max", number: l?.max)
        return o
    }
}

extension JSONObject {
    /// A number as sanperf prints it (nine significant digits), `null` when absent or not finite.
    mutating func add(_ key: String, number v: Double?) { self.add(key, raw: v.map { Format.general($0) } ?? "null") }
}
