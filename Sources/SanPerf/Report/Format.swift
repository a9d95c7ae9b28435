#if canImport(Glibc)
import Glibc
#endif

/// Fixed-point number formatting without Foundation.
enum Format {
    /// `value` with `decimals` digits after the point (half away from zero).
    static func fixed(_ value: Double, _ decimals: Int) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : (value < 0 ? "-inf" : "inf") }
        var buf = [CChar](repeating: 0, count: 64)
        _ = withVaList([decimals, value]) { vsnprintf(&buf, buf.count, "%.*f", $0) }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `value` with up to `digits` significant digits (`%.*g`): JSON numbers keep their precision
    /// whatever their magnitude.
    static func general(_ value: Double, _ digits: Int = 9) -> String {
        guard value.isFinite else { return "null" }
        var buf = [CChar](repeating: 0, count: 64)
        _ = withVaList([digits, value]) { vsnprintf(&buf, buf.count, "%.*g", $0) }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Right-aligns `s` in `width` columns.
    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
    }

    /// Left-aligns `s` in `width` columns.
    static func padRight(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
    }
}
