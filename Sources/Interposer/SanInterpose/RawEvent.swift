import CSanTrace

/// A record as the hot path wrote it, copied out of its ring: raw pointers and integers, not yet
/// converted to capture ids (Converter does that, in timestamp order).
struct RawEvent {
    var kind: UInt8
    var function: UInt8
    var flags: UInt16
    var thread: UInt32
    var sequence: UInt64
    var timestamp: UInt64
    var values: [RawValue]
    /// Set on a completion held back one pass because its start was not seen yet.
    var deferred = false
}

enum RawValue {
    case scalar(UInt64)
    case buffers(count: UInt64, [RawBuffer])
    case blob(length: UInt64, [UInt8])
    case payload(mode: UInt8, [TracePayload.Entry])
    case guid([UInt8])

    var scalar: UInt64 {
        if case .scalar(let v) = self { return v }
        return 0
    }
    var blobBytes: [UInt8] {
        if case .blob(_, let b) = self { return b }
        return []
    }
}

struct RawBuffer {
    var length: UInt64
    var address: UInt64
    var handle: UInt64
}

/// Field type ids of spi_schema.FIELD_TYPES, as the raw encoding groups them (csan_trace.h).
enum RawLayout {
    case scalar, blob, bufferList, bufferListEx, payload, guid

    init?(fieldType t: Int32) {
        switch t {
        case CSAN_T_RDMADESCRIPTOR, CSAN_T_SOCKADDR, CSAN_T_BYTES, CSAN_T_DESCRIPTORBYTES: self = .blob
        case CSAN_T_BUFFERLIST: self = .bufferList
        case CSAN_T_BUFFERLISTEX: self = .bufferListEx
        case CSAN_T_PAYLOAD: self = .payload
        case CSAN_T_GUID: self = .guid
        case CSAN_T_CALLREF: return nil
        case 1...23: self = .scalar
        default: return nil
        }
    }
}

/// The field types of a function's record of `kind`, from the compiled-in schema (cached).
struct SchemaTypes {
    /// [function][kind] → field type ids; kinds 1 (enter), 2 (leave), 4 (upcall).
    private var table: [[[Int32]]] = []

    init() {
        for f in 0..<80 {
            var byKind: [[Int32]] = Array(repeating: [], count: 6)
            if csan_schema_has(UInt32(f)) != 0 {
                for kind in [CSAN_KIND_ENTER, CSAN_KIND_LEAVE, CSAN_KIND_UPCALL] {
                    let k = kind == CSAN_KIND_UPCALL ? CSAN_KIND_LEAVE : kind
                    let n = csan_schema_field_count(UInt32(f), k)
                    byKind[Int(kind)] = (0..<n).map { csan_schema_field_type(UInt32(f), k, $0) }
                }
            }
            self.table.append(byKind)
        }
    }

    func types(function: UInt8, kind: UInt8) -> [Int32]? {
        guard function < 80, kind < 6, csan_schema_has(UInt32(function)) != 0 else { return nil }
        return self.table[Int(function)][Int(kind)]
    }
}
