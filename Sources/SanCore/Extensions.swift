import CSanABI

extension GUID: @retroactive Equatable, @retroactive Hashable, @unchecked @retroactive Sendable {
    public static func == (a: GUID, b: GUID) -> Bool { a.bytes == b.bytes }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.bytes) }

    /// The 16 bytes in memory order (Data1..3 little-endian, then Data4).
    public var bytes: [UInt8] {
        var copy = self
        return withUnsafeBytes(of: &copy) { Array($0) }
    }

    /// Reads 16 bytes in memory order; nil unless exactly 16.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 16 else { return nil }
        var g = GUID()
        withUnsafeMutableBytes(of: &g) { $0.copyBytes(from: bytes) }
        self = g
    }

    /// `{C0B422F5-F58C-11D1-AD6C-00C04FA34A2D}`
    public var registryFormat: String {
        func hex<T: BinaryInteger>(_ v: T, _ width: Int) -> String {
            let s = String(v, radix: 16, uppercase: true)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        let d4 = withUnsafeBytes(of: self.Data4) { Array($0) }
        return "{\(hex(self.Data1, 8))-\(hex(self.Data2, 4))-\(hex(self.Data3, 4))-"
            + d4[0..<2].map { hex($0, 2) }.joined() + "-" + d4[2..<8].map { hex($0, 2) }.joined() + "}"
    }
}

/// The seven extension functions fetched with `WSPIoctl(SIO_GET_EXTENSION_FUNCTION_POINTER)`
/// (reference §1.0). WSPStartupEx, the eighth, is the exported entry point.
public enum SanExtension: UInt8, CaseIterable, Sendable, CustomStringConvertible {
    case registerMemory = 0
    case deregisterMemory = 1
    case registerRdmaMemory = 2
    case deregisterRdmaMemory = 3
    case rdmaWrite = 4
    case rdmaRead = 5
    case memoryRegistrationCacheCallback = 6

    /// The extension's GUID (`WSAID_*`).
    public var guid: GUID {
        switch self {
        case .registerMemory: return CSAN_WSAID_REGISTERMEMORY
        case .deregisterMemory: return CSAN_WSAID_DEREGISTERMEMORY
        case .registerRdmaMemory: return CSAN_WSAID_REGISTERRDMAMEMORY
        case .deregisterRdmaMemory: return CSAN_WSAID_DEREGISTERRDMAMEMORY
        case .rdmaWrite: return CSAN_WSAID_RDMAWRITE
        case .rdmaRead: return CSAN_WSAID_RDMAREAD
        case .memoryRegistrationCacheCallback: return CSAN_WSAID_MEMORYREGISTRATIONCACHECALLBACK
        }
    }

    /// The finds the extension for a GUID, or nil for one this SPI does not define.
    public init?(guid: GUID) {
        guard let hit = Self.allCases.first(where: { $0.guid == guid }) else { return nil }
        self = hit
    }

    /// RdmaRead and the cache callback may answer WSAEOPNOTSUPP (reference §1.0, §4.7).
    public var isRequired: Bool { self != .rdmaRead && self != .memoryRegistrationCacheCallback }

    /// The C function name, `"WSPRdmaWrite"`.
    public var functionName: String {
        switch self {
        case .registerMemory: return "WSPRegisterMemory"
        case .deregisterMemory: return "WSPDeregisterMemory"
        case .registerRdmaMemory: return "WSPRegisterRdmaMemory"
        case .deregisterRdmaMemory: return "WSPDeregisterRdmaMemory"
        case .rdmaWrite: return "WSPRdmaWrite"
        case .rdmaRead: return "WSPRdmaRead"
        case .memoryRegistrationCacheCallback: return "WSPMemoryRegistrationCacheCallback"
        }
    }

    public var description: String { self.functionName }
}
