import SanDiff
import SanTraceStore

#if canImport(Glibc)
import Glibc
#endif

/// A line chart drawn as inline SVG (no script, no network): axes with ticks, one polyline per
/// series, a legend, and a `<title>` per series so hovering names it.
struct SVGChart {
    struct Series {
        var name: String
        var color: String
        var dashed = false
        /// Drawn as a filled area under the line (faint).
        var area = false
        var points: [(x: Double, y: Double)]
    }

    enum Scale {
        case linear
        /// log10; values ≤ 0 are dropped.
        case log
    }

    var title: String
    var xLabel: String
    var yLabel: String
    var xScale: Scale = .linear
    var yMax: Double?
    var xFormat: (Double) -> String
    var yFormat: (Double) -> String
    var series: [Series] = []
    var width = 660.0
    var height = 280.0

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
                          "#7f7f7f"]

    func svg() -> String {
        let left = 86.0, right = 175.0, top = 28.0, bottom = 42.0
        let pw = self.width - left - right, ph = self.height - top - bottom
        let xs = self.series.flatMap { $0.points.map(\.x) }.filter { self.xScale == .linear || $0 > 0 }
        let ys = self.series.flatMap { $0.points.map(\.y) }
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"\(Int(self.width))\" height=\"\(Int(self.height))\" viewBox=\"0 0 \(Int(self.width)) \(Int(self.height))\">"
        out += "<text x=\"\(left)\" y=\"16\" class=\"ct\">\(html(self.title))</text>"
        guard let x0 = xs.min(), let x1 = xs.max(), !ys.isEmpty else {
            return out + "<text x=\"\(left + 10)\" y=\"\(top + 30)\" class=\"note\">no data</text></svg>"
        }
        let yHi = self.yMax ?? Self.niceCeiling(ys.max() ?? 1)
        let (lx0, lx1): (Double, Double)
        switch self.xScale {
        case .linear: (lx0, lx1) = (x0, x1 > x0 ? x1 : x0 + 1)
        case .log:
            let a = floor(log10(x0)), b = ceil(log10(x1))
            (lx0, lx1) = (a, b > a ? b : a + 1)
        }
        func px(_ x: Double) -> Double {
            let v = self.xScale == .log ? log10(x) : x
            return left + (v - lx0) / (lx1 - lx0) * pw
        }
        func py(_ y: Double) -> Double { top + ph - (yHi > 0 ? min(max(y, 0), yHi) / yHi : 0) * ph }
        // Grid and ticks.
        out += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(pw))\" height=\"\(f(ph))\" class=\"plot\"/>"
        for i in 0...4 {
            let y = yHi * Double(i) / 4
            out += "<line x1=\"\(f(left))\" x2=\"\(f(left + pw))\" y1=\"\(f(py(y)))\" y2=\"\(f(py(y)))\" class=\"grid\"/>"
            out += "<text x=\"\(f(left - 6))\" y=\"\(f(py(y) + 4))\" class=\"tick\" text-anchor=\"end\">\(html(self.yFormat(y)))</text>"
        }
        for x in self.xTicks(lx0, lx1) {
            out += "<line x1=\"\(f(px(x)))\" x2=\"\(f(px(x)))\" y1=\"\(f(top))\" y2=\"\(f(top + ph))\" class=\"grid\"/>"
            out += "<text x=\"\(f(px(x)))\" y=\"\(f(top + ph + 16))\" class=\"tick\" text-anchor=\"middle\">\(html(self.xFormat(x)))</text>"
        }
        out += "<text x=\"\(f(left + pw / 2))\" y=\"\(f(self.height - 6))\" class=\"axis\" text-anchor=\"middle\">\(html(self.xLabel))</text>"
        out += "<text x=\"12\" y=\"\(f(top + ph / 2))\" class=\"axis\" text-anchor=\"middle\" transform=\"rotate(-90 12 \(f(top + ph / 2)))\">\(html(self.yLabel))</text>"
        // Series.
        for (i, s) in self.series.enumerated() {
            let pts = s.points.filter { self.xScale == .linear || $0.x > 0 }
            guard !pts.isEmpty else { continue }
            let path = pts.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
            out += "<g><title>\(html(s.name))</title>"
            if s.area {
                out += "<polygon points=\"\(f(px(pts[0].x))),\(f(py(0))) \(path) \(f(px(pts[pts.count - 1].x))),\(f(py(0)))\" fill=\"\(s.color)\" fill-opacity=\"0.15\" stroke=\"none\"/>"
            }
            out += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"1.6\"\(s.dashed ? " stroke-dasharray=\"5 3\"" : "")/>"
            out += "</g>"
            // Legend.
            let ly = top + 4 + Double(i) * 16
            if ly < self.height - 10 {
                out += "<line x1=\"\(f(left + pw + 10))\" x2=\"\(f(left + pw + 30))\" y1=\"\(f(ly))\" y2=\"\(f(ly))\" stroke=\"\(s.color)\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"5 3\"" : "")/>"
                out += "<text x=\"\(f(left + pw + 34))\" y=\"\(f(ly + 4))\" class=\"legend\">\(html(String(s.name.prefix(24))))</text>"
            }
        }
        return out + "</svg>"
    }

    /// Tick positions in data units.
    private func xTicks(_ lo: Double, _ hi: Double) -> [Double] {
        switch self.xScale {
        case .log: return stride(from: lo, through: hi, by: 1).map { pow(10, $0) }
        case .linear:
            let step = Self.niceStep((hi - lo) / 5)
            var t = ceil(lo / step) * step, out: [Double] = []
            while t <= hi + step * 1e-9 && out.count < 12 {
                out.append(t)
                t += step
            }
            return out
        }
    }

    static func niceStep(_ raw: Double) -> Double {
        guard raw > 0, raw.isFinite else { return 1 }
        let p = pow(10, floor(log10(raw)))
        for m in [1.0, 2, 5, 10] where m * p >= raw { return m * p }
        return 10 * p
    }

    static func niceCeiling(_ v: Double) -> Double {
        guard v > 0, v.isFinite else { return 1 }
        let p = pow(10, floor(log10(v)))
        for m in [1.0, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10] where m * p >= v { return m * p }
        return 10 * p
    }
}

/// One decimal: enough for SVG coordinates.
func f(_ v: Double) -> String { fixed(v, 1) }

/// Text for HTML content and attributes.
func html(_ s: String) -> String {
    var out = ""
    out.reserveCapacity(s.utf8.count)
    for c in s {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        default: out.append(c)
        }
    }
    return out
}
