import SanTraceStore

/// ANSI styling for terminal output, off unless asked for (the CLI turns it on for a terminal
/// without `NO_COLOR`).
public struct TextStyle: Sendable {
    public var color: Bool
    public init(color: Bool) { self.color = color }

    public func red(_ s: String) -> String { self.color ? "\u{1B}[31;1m" + s + "\u{1B}[0m" : s }
    public func green(_ s: String) -> String { self.color ? "\u{1B}[32m" + s + "\u{1B}[0m" : s }
    public func dim(_ s: String) -> String { self.color ? "\u{1B}[2m" + s + "\u{1B}[0m" : s }
    public func bold(_ s: String) -> String { self.color ? "\u{1B}[1m" + s + "\u{1B}[0m" : s }
}

/// Small text helpers shared by the diff and report renderings (no Foundation).
public enum TextCells {
    /// Right-aligned (or left) in `width` columns (counting characters, not bytes).
    public static func pad(_ s: String, _ width: Int, left: Bool = false) -> String {
        let n = s.count
        guard n < width else { return s }
        let p = String(repeating: " ", count: width - n)
        return left ? s + p : p + s
    }

    /// `+12.3%`, `-4.0%`, `~` style helpers.
    public static func percent(_ x: Double?) -> String {
        guard let x, x.isFinite else { return "-" }
        return (x >= 0 ? "+" : "") + fixed(x * 100, 1) + "%"
    }

    /// A latency: `812 ns`, `12.345 µs`.
    public static func duration(_ ns: UInt64) -> String { EventFormatter.duration(Int64(clamping: ns)) }

    /// A short duration for axis ticks: `10 ns`, `1 µs`, `2.5 ms`, `1 s` (no trailing zeros).
    public static func shortDuration(_ ns: Double) -> String {
        for (scale, unit) in [(1e9, "s"), (1e6, "ms"), (1e3, "µs")] where ns >= scale {
            return Self.trim(fixed(ns / scale, 2)) + " " + unit
        }
        return Self.trim(fixed(ns, 2)) + " ns"
    }

    /// `2.50` → `2.5`, `10.00` → `10`.
    static func trim(_ s: String) -> String {
        guard s.contains(".") else { return s }
        var t = Substring(s)
        while t.last == "0" { t = t.dropLast() }
        if t.last == "." { t = t.dropLast() }
        return String(t)
    }

    /// A rate in binary units per second: `812 B/s`, `3.2 GiB/s`.
    public static func bytesRate(_ v: Double) -> String {
        let units = ["B/s", "KiB/s", "MiB/s", "GiB/s", "TiB/s"]
        var x = v, i = 0
        while x >= 1024 && i < units.count - 1 {
            x /= 1024
            i += 1
        }
        return fixed(x, i == 0 ? 0 : 1) + " " + units[i]
    }

    /// Operations per second: `812/s`, `1.2 M/s`.
    public static func opsRate(_ v: Double) -> String {
        if v >= 1e6 { return fixed(v / 1e6, 2) + " M/s" }
        if v >= 1e3 { return fixed(v / 1e3, 1) + " k/s" }
        return fixed(v, 0) + "/s"
    }

    /// A p-value with three decimals, or `<0.001`.
    public static func pValue(_ p: Double) -> String { p < 0.001 ? "<0.001" : fixed(p, 3) }
}
