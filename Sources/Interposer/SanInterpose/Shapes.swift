import CSanTrace

/// What the converter needs to know about one record shape (kind × function), read once from
/// the schema compiled into CSanTrace (generated from tools/gen/spi_schema.py, like the store's
/// schema; a test checks the two agree). Plain values only: the table lives in raw memory that
/// is never freed, so reading it costs no reference counting per event.
struct Shape {
    /// Index of the first field type in `Shapes.types`; -1 for a shape the schema lacks.
    var start: Int32 = -1
    var count: Int8 = 0
    /// The field holding the object this call creates (a socket, a switch socket, an event, an
    /// RDMA descriptor); -1 when none.
    var creates: Int8 = -1
    /// First `socket`, `overlapped` field; the `ret`, `err`, `bytes`, `flags`, `payload` fields.
    var socket: Int8 = -1
    var overlapped: Int8 = -1
    var ret: Int8 = -1
    var err: Int8 = -1
    var bytes: Int8 = -1
    var flags: Int8 = -1
    var payload: Int8 = -1
    var startsOperation = false
}

enum Shapes {
    nonisolated(unsafe) private static let built = make()
    /// Indexed by `kind * 128 + function` for kinds ENTER, LEAVE and UPCALL.
    nonisolated(unsafe) static let table: UnsafeMutablePointer<Shape> = built.0
    /// Field type ids (CSAN_T_*), flattened.
    nonisolated(unsafe) static let types: UnsafeMutablePointer<UInt8> = built.1

    @inline(__always)
    static func slot(_ kind: UInt8, _ function: UInt8) -> Int { Int(kind & 7) &* 128 &+ Int(function & 127) }

    private static func make() -> (UnsafeMutablePointer<Shape>, UnsafeMutablePointer<UInt8>) {
        let table = UnsafeMutablePointer<Shape>.allocate(capacity: 8 * 128)
        table.initialize(repeating: Shape(), count: 8 * 128)
        var types: [UInt8] = []
        for f in 0..<80 where csan_schema_has(UInt32(f)) != 0 {
            let fn = UInt32(f)
            let upcall = csan_schema_group(fn) == CSAN_GROUP_UPCALL
            for kind in upcall ? [CSAN_KIND_UPCALL] : [CSAN_KIND_ENTER, CSAN_KIND_LEAVE] {
                let schemaKind = kind == CSAN_KIND_UPCALL ? CSAN_KIND_LEAVE : kind
                let n = csan_schema_field_count(fn, schemaKind)
                var s = Shape()
                var descriptor: Int8 = -1
                s.start = Int32(types.count)
                s.count = Int8(n)
                s.startsOperation = csan_schema_starts_op(fn) != 0
                for i in 0..<n {
                    let t = csan_schema_field_type(fn, schemaKind, i)
                    let name = String(cString: csan_schema_field_name(fn, schemaKind, i))
                    types.append(UInt8(t))
                    switch (name, t) {
                    case (_, CSAN_T_SOCKET) where s.socket < 0: s.socket = Int8(i)
                    case (_, CSAN_T_OVERLAPPED) where s.overlapped < 0: s.overlapped = Int8(i)
                    case ("ret", _): s.ret = Int8(i)
                    case ("err", CSAN_T_WSAERROR): s.err = Int8(i)
                    case ("bytes", CSAN_T_U32): s.bytes = Int8(i)
                    case ("flags", CSAN_T_FLAGS): s.flags = Int8(i)
                    case ("payload", CSAN_T_PAYLOAD): s.payload = Int8(i)
                    case (_, CSAN_T_RDMADESCRIPTOR) where descriptor < 0: descriptor = Int8(i)
                    default: break
                    }
                }
                s.creates = Self.createdField(function: f, kind: kind, s, descriptor: descriptor)
                table[Self.slot(UInt8(kind), UInt8(f))] = s
            }
        }
        let flat = UnsafeMutablePointer<UInt8>.allocate(capacity: max(types.count, 1))
        flat.initialize(from: types, count: types.count)
        return (table, flat)
    }

    /// Calls whose return value starts an object's lifetime.
    private static func createdField(function f: Int, kind: Int32, _ s: Shape, descriptor: Int8) -> Int8 {
        guard kind == CSAN_KIND_LEAVE || kind == CSAN_KIND_UPCALL else { return -1 }
        switch f {
        case Function.accept, Function.joinLeaf, Function.socket, Function.createEvent, Function.createSocketHandle:
            return s.ret
        case Function.registerRdmaMemory: return descriptor  // (its `ret` is a status)
        default: return -1
        }
    }
}

/// Schema function ids the converter treats specially (tools/gen/spi_schema.py).
enum Function {
    static let accept = 0, closeSocket = 6, joinLeaf = 17, recv = 19, socket = 28, startup = 32
    static let registerMemory = 33, deregisterMemory = 34, registerRdmaMemory = 35
    static let closeEvent = 64, closeSocketHandle = 65, createEvent = 66, createSocketHandle = 67
}
