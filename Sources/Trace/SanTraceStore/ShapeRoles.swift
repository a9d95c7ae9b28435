import SanTraceFormat

/// For every record shape, where its commonly used fields sit (socket, error, bytes, overlapped,
/// return value, buffers, completion's function): the indexers and filters read them without
/// looking names up per event. -1 = the shape has no such field. Public for the analysis modules
/// (SanDiff, SanReport), which read events on the same hot path.
public final class ShapeRoles: @unchecked Sendable {
    @frozen
    public struct Roles: Sendable {
        public var socket: Int8 = -1
        public var error: Int8 = -1
        public var bytes: Int8 = -1
        public var overlapped: Int8 = -1
        public var ret: Int8 = -1
        public var buffers: Int8 = -1
        public var function: Int8 = -1
        public var start: Int8 = -1
        public var startsOperation = false
    }

    let table: [Roles]
    /// `table` in raw memory (immutable, immortal: `shared` is never freed).
    @usableFromInline let pointer: UnsafeMutablePointer<Roles>
    public static let shared = ShapeRoles()

    init() {
        var table = [Roles](repeating: Roles(), count: 8 * 128)
        func fill(_ kind: EventKind, _ fn: UInt16, _ fields: [FieldDefinition], startsOp: Bool) {
            var r = Roles()
            r.startsOperation = startsOp
            for (i, f) in fields.enumerated() {
                switch (f.name, f.type) {
                case (_, .socket) where r.socket < 0: r.socket = Int8(i)
                case ("err", .wsaError), ("status", .wsaError): r.error = Int8(i)
                case ("bytes", .u32): r.bytes = Int8(i)
                case ("ov", .overlapped): r.overlapped = Int8(i)
                case ("ret", _): r.ret = Int8(i)
                case ("buffers", _): r.buffers = Int8(i)
                case ("function", .u32): r.function = Int8(i)
                case ("start", .callRef): r.start = Int8(i)
                default: break
                }
            }
            table[Int(kind.rawValue) * 128 + Int(fn)] = r
        }
        for f in Schema.functions {
            if f.group == .upcall {
                fill(.upcall, f.id, f.upcall, startsOp: false)
            } else {
                fill(.enter, f.id, f.enter, startsOp: f.startsOperation)
                fill(.leave, f.id, f.leave, startsOp: f.startsOperation)
            }
        }
        fill(.completion, 0, Schema.completionFields, startsOp: false)
        fill(.lookup, 0, Schema.lookupFields, startsOp: false)
        self.table = table
        self.pointer = .allocate(capacity: table.count)
        self.pointer.initialize(from: table, count: table.count)
    }

    @inlinable @inline(__always)
    public func roles(_ r: EventRecord) -> Roles {
        let fn = (r.kind == .completion || r.kind == .lookup) ? 0 : Int(r.function.rawValue & 0x7F)
        return self.pointer[Int(r.kind.rawValue) * 128 + fn]
    }
}

/// WSA_IO_PENDING and WSA_IO_INCOMPLETE are outcomes, not failures: an overlapped operation was
/// started, or a poll found it still running.
@inlinable @inline(__always)
public func isFailure(_ err: Int64) -> Bool { err != 0 && err != 997 && err != 996 }

extension EventRecord {
    /// The function an event is about: its own, or for a COMPLETION the function that started the
    /// operation (`function` field); `.none` for LOOKUP.
    @inlinable @inline(__always)
    public func subjectFunction(_ roles: ShapeRoles.Roles) -> FunctionID {
        if self.kind == .completion, roles.function >= 0 {
            let v = self.value(Int(roles.function))
            return v <= UInt64(FunctionID.maxRawValue) ? FunctionID(UInt16(v)) : .none
        }
        return self.function
    }

    /// True for a LEAVE or COMPLETION that reports a failure.
    @inlinable @inline(__always)
    public func isError(_ roles: ShapeRoles.Roles) -> Bool {
        (self.kind == .leave || self.kind == .completion) && roles.error >= 0 && isFailure(self.signed(Int(roles.error)))
    }

    /// Bytes moved as this event reports them (successful completions, and successful LEAVEs of
    /// operation-starting calls that did not go pending).
    @inlinable @inline(__always)
    public func movedBytes(_ roles: ShapeRoles.Roles) -> UInt64 {
        guard roles.bytes >= 0 else { return 0 }
        if self.kind == .completion {
            return roles.error >= 0 && self.signed(Int(roles.error)) != 0 ? 0 : self.value(Int(roles.bytes))
        }
        if self.kind == .leave, roles.startsOperation, roles.error >= 0, self.signed(Int(roles.error)) == 0 {
            return self.value(Int(roles.bytes))
        }
        return 0
    }
}
