/// Minimal JSON text building (the libraries use no Foundation): escaping and object assembly
/// with keys in the order given (stable output for golden tests and JSON Lines consumers).
public struct JSONObject {
    private var parts: [String] = []
    public init() {}

    public mutating func add(_ key: String, raw: String) { self.parts.append(jsonString(key) + ":" + raw) }
    public mutating func add(_ key: String, _ v: String) { self.add(key, raw: jsonString(v)) }
    public mutating func add(_ key: String, _ v: Int64) { self.add(key, raw: String(v)) }
    public mutating func add(_ key: String, _ v: UInt64) { self.add(key, raw: String(v)) }
    public mutating func add(_ key: String, _ v: Int) { self.add(key, raw: String(v)) }
    public mutating func add(_ key: String, _ v: Double) { self.add(key, raw: jsonNumber(v)) }
    public mutating func add(_ key: String, _ v: Bool) { self.add(key, raw: v ? "true" : "false") }
    public mutating func add(_ key: String, _ v: JSONObject) { self.add(key, raw: v.text) }

    public var text: String { "{" + self.parts.joined(separator: ",") + "}" }
}

public func jsonArray(_ items: [String]) -> String { "[" + items.joined(separator: ",") + "]" }

public func jsonNumber(_ v: Double) -> String {
    guard v.isFinite else { return "null" }
    if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
    return String(v)
}

public func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if u.value < 0x20 {
                let h = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
            } else {
                out.unicodeScalars.append(u)
            }
        }
    }
    return out + "\""
}
