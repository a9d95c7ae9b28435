extension PerfReport {
    /// The perftest-like text report.
    public var text: String {
        var out: [String] = []
        let where_: String
        switch self.placement {
        case "loopback": where_ = "loopback: both ends in this process over 127.0.0.1, client side shown"
        default: where_ = "\(self.placement): this process is the \(self.side.rawValue) side"
        }
        out.append("sanperf \(self.test.rawValue): provider \(self.provider) (\(self.providerPath))")
        out.append(" \(where_)")
        var params = " completion \(self.completion.rawValue), wait \(self.wait.rawValue)"
        if self.test.isBandwidth { params += ", tx depth \(self.txDepth)" }
        out.append(params)
        if !self.dataMoved {
            out.append(" note: the provider delivered no data in the setup exchange (it moves no data, like null);")
            out.append("       the in-process copy of the setup messages was used, so the figures are call overheads only")
        }
        out.append(Self.header)
        out.append(Self.row(self.size, self.iterations, self.measurement, label: "SAN"))
        if let raw = self.rawTCP { out.append(Self.row(self.size, self.iterations, raw, label: "raw TCP")) }
        if let l = self.measurement.latency {
            out.append(" latency [usec], \(self.test.latencyMeaning):")
            out.append(Self.latencyLine("SAN", l))
            if let r = self.rawTCP?.latency { out.append(Self.latencyLine("raw TCP", r)) }
        } else if self.side == .server {
            out.append(" latency: measured on the client side")
        }
        if let b = self.bandwidthRatio, self.test.isBandwidth {
            out.append(" ratio provider/raw TCP: bandwidth \(Format.fixed(b, 2))x")
        }
        if let r = self.latencyRatios, self.test.isLatency {
            out.append(" ratio provider/raw TCP: latency median \(Format.fixed(r.p50, 2))x, average \(Format.fixed(r.average, 2))x")
        }
        if !self.churn.isEmpty {
            out.append(" " + Format.padRight("call", 24) + Format.pad("count", 10) + Format.pad("ops/s", 14)
                       + Format.pad("min", 10) + Format.pad("median", 10) + Format.pad("avg", 10) + Format.pad("p99", 10)
                       + "  [usec]")
            for c in self.churn {
                let l = c.latency
                out.append(" " + Format.padRight(c.kind, 24) + Format.pad("\(c.count)", 10)
                           + Format.pad(Format.fixed(c.opsPerSecond, 0), 14)
                           + Format.pad(Format.fixed((l?.min ?? 0) / 1000, 2), 10)
                           + Format.pad(Format.fixed((l?.p50 ?? 0) / 1000, 2), 10)
                           + Format.pad(Format.fixed((l?.average ?? 0) / 1000, 2), 10)
                           + Format.pad(Format.fixed((l?.p99 ?? 0) / 1000, 2), 10))
            }
        }
        return out.joined(separator: "\n")
    }

    static let header = " " + Format.padRight("", 9) + Format.pad("#bytes", 10) + Format.pad("#iterations", 13)
        + Format.pad("BW avg[MiB/s]", 15) + Format.pad("BW avg[Gb/s]", 14) + Format.pad("MsgRate[Mpps]", 15)

    static func row(_ size: Int, _ iters: Int, _ m: PerfMeasurement, label: String) -> String {
        " " + Format.padRight(label, 9) + Format.pad("\(size)", 10) + Format.pad("\(iters)", 13)
            + Format.pad(Format.fixed(m.mebibytesPerSecond, 2), 15) + Format.pad(Format.fixed(m.gigabitsPerSecond, 3), 14)
            + Format.pad(Format.fixed(m.messageRate / 1e6, 6), 15)
    }

    static func latencyLine(_ label: String, _ l: LatencySummary) -> String {
        func us(_ ns: Double) -> String { Format.fixed(ns / 1000, 2) }
        return "  " + Format.padRight(label, 8) + " min \(us(l.min))  median \(us(l.p50))  average \(us(l.average))"
            + "  p99 \(us(l.p99))  p99.9 \(us(l.p999))  max \(us(l.max))"
    }
}
