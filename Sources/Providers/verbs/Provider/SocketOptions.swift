import SanCore

/// The verbs provider's own socket options, at level SOL_SOCKET_WSA (0xffff), in the range
/// 0x7400…0x74FF that sanreplay reserves for `verbs` (Windows' SAN options end at 0x700E). Set
/// them between WSPSocket and WSPConnect / WSPListen; an accepted socket inherits its listener's.
/// WSPGetSockOpt reports what was set before the connection and what is in use after it.
public enum VerbsSocketOption: Int32, CaseIterable, Sendable {
    /// `SO_SAN_VERBS_DEVICE`: the device name as bytes (`"mlx5_0"`, NUL optional, ≤ 63
    /// characters); an empty value returns to the default.
    case device = 0x7400
    /// `SO_SAN_VERBS_PORT`: a 32-bit port number, 1…255; 0 returns to the default.
    case port = 0x7401
    /// `SO_SAN_VERBS_GID_INDEX`: a 32-bit GID index, 0…255; -1 chooses automatically.
    case gidIndex = 0x7402

    public static let range: ClosedRange<Int32> = 0x7400...0x74FF

    /// Applies a WSPSetSockOpt value to a selection. WSAEFAULT for a value of the wrong size,
    /// WSAEINVAL for one out of range.
    public func apply(_ value: [UInt8], to selection: inout VerbsSelection) -> WSAError? {
        switch self {
        case .device:
            let name = value.prefix { $0 != 0 }
            guard name.count <= 63 else { return .invalidArgument }
            if name.isEmpty {
                selection.deviceName = nil
                return nil
            }
            let text = String(decoding: name, as: UTF8.self)
            guard VerbsDeviceSelection.isValidDeviceName(text) else { return .invalidArgument }
            selection.deviceName = text
        case .port:
            guard value.count == 4 else { return .fault }
            let n = Self.int32(value)
            guard (0...255).contains(n) else { return .invalidArgument }
            selection.port = n == 0 ? nil : UInt8(n)
        case .gidIndex:
            guard value.count == 4 else { return .fault }
            let n = Self.int32(value)
            guard (-1...255).contains(n) else { return .invalidArgument }
            selection.gidIndex = n < 0 ? nil : UInt8(n)
        }
        return nil
    }

    /// The WSPGetSockOpt value for a selection (automatic fields: "", 0, -1).
    public func value(of selection: VerbsSelection) -> [UInt8] {
        switch self {
        case .device: return Array((selection.deviceName ?? "").utf8) + [0]
        case .port: return Self.bytes(Int32(selection.port ?? 0))
        case .gidIndex: return Self.bytes(selection.gidIndex.map { Int32($0) } ?? -1)
        }
    }

    private static func int32(_ b: [UInt8]) -> Int32 {
        Int32(bitPattern: UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24)
    }

    private static func bytes(_ v: Int32) -> [UInt8] {
        let u = UInt32(bitPattern: v)
        return [UInt8(truncatingIfNeeded: u), UInt8(truncatingIfNeeded: u >> 8), UInt8(truncatingIfNeeded: u >> 16),
                UInt8(truncatingIfNeeded: u >> 24)]
    }
}
