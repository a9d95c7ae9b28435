/// The field types of every record shape, flattened for the encoder and decoder hot paths: one
/// lookup by (kind, function) gives the types in record order.
///
/// Built once from the compiled schema (``FieldLayout/compiled``); immutable afterwards.
public final class FieldLayout: @unchecked Sendable {
    /// Slot of a record shape: `kind * 128 + function` (function 0 for COMPLETION and LOOKUP).
    @inlinable @inline(__always)
    static func slot(_ kind: UInt8, _ function: UInt16) -> Int { Int(kind) &* 128 &+ Int(function) }

    static let slotCount = 8 * 128

    /// Start of each shape's types in `types`, or -1 for a shape the schema does not define.
    let starts: [Int32]
    let counts: [UInt8]
    @usableFromInline let types: [UInt8]
    let definitions: [[FieldDefinition]?]
    /// The same tables in raw memory for the hot paths (immutable after init, freed in deinit;
    /// hence @unchecked Sendable).
    @usableFromInline let typesPointer: UnsafeMutablePointer<UInt8>
    let startsPointer: UnsafeMutablePointer<Int32>
    let countsPointer: UnsafeMutablePointer<UInt8>

    /// Per field type (indexed by raw value, 32 entries): how the decoder's common path treats it
    /// (0 unsigned varint, 1 zigzag varint of an i32, 2 compound) and the largest unsigned value
    /// allowed. Branches on these predict better than a jump on the type.
    let typeClass: UnsafeMutablePointer<UInt8>
    let typeLimit: UnsafeMutablePointer<UInt64>
    /// Parallel to `typesPointer`, for the decoder's hot loop (one load per field, no lookup by
    /// type): each field's kind (``unsignedField``, ``signedField``, ``compoundField``) and the
    /// largest value its varint may hold (a signed field's zigzag encoding: ≤ UInt32.max is
    /// exactly an Int32).
    let fieldKindsPointer: UnsafeMutablePointer<UInt8>
    let fieldLimitsPointer: UnsafeMutablePointer<UInt64>
    static let unsignedField: UInt8 = 0
    static let signedField: UInt8 = 1
    @usableFromInline static let compoundField: UInt8 = 2

    public static let compiled = FieldLayout()

    init() {
        var starts = [Int32](repeating: -1, count: Self.slotCount)
        var counts = [UInt8](repeating: 0, count: Self.slotCount)
        var types: [UInt8] = []
        var defs = [[FieldDefinition]?](repeating: nil, count: Self.slotCount)
        func add(_ kind: EventKind, _ function: UInt16, _ fields: [FieldDefinition]) {
            let s = Self.slot(kind.rawValue, function)
            starts[s] = Int32(types.count)
            counts[s] = UInt8(fields.count)
            types.append(contentsOf: fields.map { $0.type.rawValue })
            defs[s] = fields
        }
        for f in Schema.functions {
            if f.group == .upcall {
                add(.upcall, f.id, f.upcall)
            } else {
                add(.enter, f.id, f.enter)
                add(.leave, f.id, f.leave)
            }
        }
        add(.completion, 0, Schema.completionFields)
        add(.lookup, 0, Schema.lookupFields)
        precondition(counts.allSatisfy { Int($0) <= TraceFormat.maxFieldsPerRecord }, "schema exceeds maxFieldsPerRecord")
        self.starts = starts
        self.counts = counts
        self.types = types
        self.definitions = defs
        self.typesPointer = .allocate(capacity: max(types.count, 1))
        self.typesPointer.initialize(from: types, count: types.count)
        self.startsPointer = .allocate(capacity: Self.slotCount)
        self.startsPointer.initialize(from: starts, count: Self.slotCount)
        self.countsPointer = .allocate(capacity: Self.slotCount)
        self.countsPointer.initialize(from: counts, count: Self.slotCount)
        self.typeClass = .allocate(capacity: 32)
        self.typeClass.initialize(repeating: 2, count: 32)
        self.typeLimit = .allocate(capacity: 32)
        self.typeLimit.initialize(repeating: 0, count: 32)
        for t in FieldType.allCases {
            let i = Int(t.rawValue)
            switch t {
            case .u64, .socket, .switchSocket, .memHandle, .rdmaDescriptor, .overlapped, .event:
                self.typeClass[i] = 0
                self.typeLimit[i] = .max
            case .u32, .flags:
                self.typeClass[i] = 0
                self.typeLimit[i] = UInt64(UInt32.max)
            case .bool:
                self.typeClass[i] = 0
                self.typeLimit[i] = 1
            case .completionMode:
                self.typeClass[i] = 0
                self.typeLimit[i] = 2
            case .completionVia:
                self.typeClass[i] = 0
                self.typeLimit[i] = 3
            case .i32, .wsaError:
                self.typeClass[i] = 1
            default:
                self.typeClass[i] = 2
            }
        }
        self.fieldKindsPointer = .allocate(capacity: max(types.count, 1))
        self.fieldLimitsPointer = .allocate(capacity: max(types.count, 1))
        for (i, t) in types.enumerated() {
            let cls = self.typeClass[Int(t)]
            (self.fieldKindsPointer + i).initialize(to: cls == 0 ? Self.unsignedField : cls == 1 ? Self.signedField : Self.compoundField)
            (self.fieldLimitsPointer + i).initialize(to: cls == 1 ? UInt64(UInt32.max) : self.typeLimit[Int(t)])
        }
    }

    deinit {
        self.fieldKindsPointer.deallocate()
        self.fieldLimitsPointer.deallocate()
        self.typesPointer.deallocate()
        self.startsPointer.deallocate()
        self.countsPointer.deallocate()
        self.typeClass.deallocate()
        self.typeLimit.deallocate()
    }

    /// The fields of a shape, nil when the schema does not define it.
    public func fields(kind: EventKind, function: FunctionID) -> [FieldDefinition]? {
        let fn: UInt16 = (kind == .completion || kind == .lookup) ? 0 : function.rawValue
        guard fn <= FunctionID.maxRawValue else { return nil }
        return self.definitions[Self.slot(kind.rawValue, fn)]
    }

    /// (start, count) of a shape's types, nil when undefined.
    @inline(__always)
    func shape(kind: UInt8, function: UInt16) -> (start: Int, count: Int)? {
        let fn: UInt16 = (kind == EventKind.completion.rawValue || kind == EventKind.lookup.rawValue) ? 0 : function
        guard fn <= FunctionID.maxRawValue, kind < 8 else { return nil }
        let s = Self.slot(kind, fn)
        let start = self.startsPointer[s]
        return start < 0 ? nil : (Int(start), Int(self.countsPointer[s]))
    }
}
