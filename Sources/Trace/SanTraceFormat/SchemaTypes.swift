/// A function's stable on-disk number (tools/gen/spi_schema.py): 0–29 proc-table slots, 32
/// WSPStartupEx, 33–39 extensions, 64–79 upcalls. Named constants (`FunctionID.WSPSend`) are
/// generated in Generated/Schema.swift.
@frozen
public struct FunctionID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    @inlinable public init(rawValue: UInt16) { self.rawValue = rawValue }
    @inlinable public init(_ rawValue: UInt16) { self.rawValue = rawValue }

    /// The function of a COMPLETION or LOOKUP event, which carries none in its header.
    public static let none = FunctionID(0xFFFF)

    /// Highest id the format reserves for functions (ids are < 128, one varint byte).
    public static let maxRawValue: UInt16 = 127

    public static func < (a: FunctionID, b: FunctionID) -> Bool { a.rawValue < b.rawValue }

    /// The SPI name (`"WSPSend"`), or `"fn#N"` for an id this schema does not define.
    public var name: String {
        if self == .none { return "-" }
        return Schema.function(self)?.name ?? "fn#\(self.rawValue)"
    }

    public var description: String { self.name }

    /// Looks a function up by its SPI name (`"WSPSend"`, case-insensitive, `WSP`/`WPU` optional)
    /// or by its number.
    public init?(name: String) {
        if let n = UInt16(name), Schema.function(FunctionID(n)) != nil {
            self.init(n)
            return
        }
        let lower = name.lowercased()
        guard let hit = Schema.functions.first(where: {
            let n = $0.name.lowercased()
            return n == lower || n.dropFirst(3) == lower[...]
        }) else { return nil }
        self = FunctionID(hit.id)
    }
}

/// One field of an event record: its name, how it is stored, and (for `flags`) which names its
/// bits have.
public struct FieldDefinition: Sendable, Equatable {
    public var name: String
    public var type: FieldType
    public var flagTable: FlagTable?

    public init(name: String, type: FieldType, flagTable: FlagTable?) {
        self.name = name
        self.type = type
        self.flagTable = flagTable
    }

    public static func == (a: FieldDefinition, b: FieldDefinition) -> Bool {
        a.name == b.name && a.type == b.type && a.flagTable == b.flagTable
    }
}

/// One SPI function and the fields its ENTER, LEAVE (or UPCALL) records carry, in record order.
public struct FunctionDefinition: Sendable {
    public var id: UInt16
    public var name: String
    public var group: FunctionGroup
    /// The call may start an overlapped operation that a COMPLETION event finishes later.
    public var startsOperation: Bool
    public var enter: [FieldDefinition]
    public var leave: [FieldDefinition]
    public var upcall: [FieldDefinition]

    public init(id: UInt16, name: String, group: FunctionGroup, startsOperation: Bool, enter: [FieldDefinition],
                leave: [FieldDefinition], upcall: [FieldDefinition]) {
        self.id = id
        self.name = name
        self.group = group
        self.startsOperation = startsOperation
        self.enter = enter
        self.leave = leave
        self.upcall = upcall
    }

    /// The fields of this function's records of `kind` (empty for kinds it has none of).
    public func fields(_ kind: EventKind) -> [FieldDefinition] {
        switch kind {
        case .enter: return self.enter
        case .leave: return self.leave
        case .upcall: return self.upcall
        case .completion, .lookup: return []
        }
    }
}

/// The schema compiled into this build (generated from tools/gen/spi_schema.py).
public enum Schema {
    private static let byID: [FunctionDefinition?] = {
        var table = [FunctionDefinition?](repeating: nil, count: Int(FunctionID.maxRawValue) + 1)
        for f in functions { table[Int(f.id)] = f }
        return table
    }()

    /// The definition of a function id, nil for an unknown one.
    public static func function(_ id: FunctionID) -> FunctionDefinition? {
        guard id.rawValue <= FunctionID.maxRawValue else { return nil }
        return byID[Int(id.rawValue)]
    }

    /// The fields of one record shape: `function` is ignored for COMPLETION and LOOKUP.
    public static func fields(kind: EventKind, function: FunctionID) -> [FieldDefinition]? {
        switch kind {
        case .completion: return completionFields
        case .lookup: return lookupFields
        case .enter, .leave, .upcall:
            guard let f = self.function(function) else { return nil }
            if (kind == .upcall) != (f.group == .upcall) { return nil }
            return f.fields(kind)
        }
    }

    /// Names of the bits set in `value` per `table` (`"MEM_READ|MEM_WRITE"`; unknown bits in hex;
    /// `"0"` for none). The ioctl table names whole codes.
    public static func flagNames(_ value: UInt64, table: FlagTable) -> String {
        if table == .ioctl {
            return ioctlNames[UInt32(truncatingIfNeeded: value)] ?? hex(value)
        }
        if value == 0 { return "0" }
        var parts: [String] = []
        var rest = value
        for (bit, name) in table.bits where rest & UInt64(bit) != 0 {
            parts.append(name)
            rest &= ~UInt64(bit)
        }
        if rest != 0 { parts.append(hex(rest)) }
        return parts.joined(separator: "|")
    }

    static func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }
}
