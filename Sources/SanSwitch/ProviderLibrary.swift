#if canImport(Glibc)
import Glibc
#endif
import CSanABI
import SanCore

/// The extension functions of a loaded provider, fetched through
/// `WSPIoctl(INVALID_SOCKET, SIO_GET_EXTENSION_FUNCTION_POINTER, &guid, …)` (reference §1.0).
/// The five required ones are present; RdmaRead and the cache callback may be nil when the
/// provider answered WSAEOPNOTSUPP.
public struct SanExtensionPointers: @unchecked Sendable {
    public var registerMemory: LPFN_WSPREGISTERMEMORY
    public var deregisterMemory: LPFN_WSPDEREGISTERMEMORY
    public var registerRdmaMemory: LPFN_WSPREGISTERRDMAMEMORY
    public var deregisterRdmaMemory: LPFN_WSPDEREGISTERRDMAMEMORY
    public var rdmaWrite: LPFN_WSPRDMAWRITE
    public var rdmaRead: LPFN_WSPRDMAREAD?
    public var memoryRegistrationCacheCallback: LPFN_WSPMEMORYREGISTRATIONCACHECALLBACK?
}

/// A loaded SAN provider: the library, its WSPPROC_TABLE and its extensions.
///
/// Loading follows the switch (reference §4.1): dlopen, `WSPStartupEx(0x0202)` with this
/// switch's upcall table, the 16 base functions the switch requires must be non-NULL, then seven
/// WSPIoctl look-ups. With `SAN_LAYER` set (a path or short name of a layered provider such as
/// libsantrace.so), the layer is loaded in place of the requested provider and told which one it
/// wraps through `SANTRACE_PROVIDER` (unless that is already set).
public final class SanProvider: @unchecked Sendable {
    /// The library actually loaded (the layer, when one is configured).
    public let path: String
    /// The provider the caller asked for, resolved to a path.
    public let requestedPath: String
    /// WSPDATA.szDescription.
    public let providerDescription: String
    /// WSPDATA.wVersion.
    public let version: UInt16
    /// The proc table the provider filled. Slots the SPI does not require may be nil.
    public let procs: WSPPROC_TABLE
    /// The extension functions.
    public let extensions: SanExtensionPointers
    /// The status each extension look-up returned (nil = supported).
    public let lookups: [SanExtension: WSAError?]

    /// The slots a switch refuses to run without: the 17 of reference §3.1 except
    /// WSPGetQOSByName, which the Windows switch does not check either.
    public static let requiredSlots = SanProcSlot.required.filter { $0 != .getQOSByName }

    /// Loads a provider by short name (`tcp`, `null`, `verbs`) or path; nil means
    /// ``ProviderLocator/defaultName``.
    public static func load(_ nameOrPath: String? = nil) throws(SanSwitchError) -> SanProvider {
        let requested = try ProviderLocator.resolve(nameOrPath ?? ProviderLocator.defaultName)
        var path = requested
        if let layer = ProviderLocator.environment("SAN_LAYER") {
            path = try ProviderLocator.resolve(layer)
            if path != requested { setenv("SANTRACE_PROVIDER", requested, 0) }
        }
        return try SanProvider(path: path, requested: requested)
    }

    private init(path: String, requested: String) throws(SanSwitchError) {
        self.path = path
        self.requestedPath = requested
        guard let lib = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            throw .loadFailed(path: path, reason: dlerror().map { String(cString: $0) } ?? "unknown error")
        }
        guard let sym = dlsym(lib, WSPSTARTUPEX_SYMBOL) else { throw .noEntryPoint(path: path) }
        let startup = unsafeBitCast(sym, to: LPWSPSTARTUPEX.self)
        var data = WSPDATA()
        var info = Self.tcpProtocolInfo()
        var upcalls = SanUpcallRegistry.table
        var table = WSPPROC_TABLE()
        let rc = startup(UInt16(WSPSTARTUPEX_VERSION), &data, &info, &upcalls, &table)
        guard rc == 0 else { throw .startupFailed(path: path, error: WSAError(rc)) }
        self.procs = table
        self.version = data.wVersion
        self.providerDescription = withUnsafeBytes(of: data.szDescription) { raw in
            let units = raw.bindMemory(to: UInt16.self)
            return String(decoding: units.prefix { $0 != 0 }, as: UTF16.self)
        }
        for slot in Self.requiredSlots where !Self.has(table, slot) {
            throw .missingFunction(path: path, function: slot.functionName)
        }
        var found: [SanExtension: UnsafeRawPointer] = [:]
        var lookups: [SanExtension: WSAError?] = [:]
        for ext in SanExtension.allCases {
            switch Self.lookUp(ext, table) {
            case .success(let fn):
                found[ext] = fn
                lookups[ext] = .some(nil)
            case .failure(let e):
                lookups[ext] = e
                if ext.isRequired { throw .missingExtension(path: path, function: ext.functionName, error: e) }
            }
        }
        self.lookups = lookups
        func cast<T>(_ e: SanExtension, _: T.Type) -> T { unsafeBitCast(found[e], to: T.self) }
        self.extensions = SanExtensionPointers(
            registerMemory: cast(.registerMemory, LPFN_WSPREGISTERMEMORY.self),
            deregisterMemory: cast(.deregisterMemory, LPFN_WSPDEREGISTERMEMORY.self),
            registerRdmaMemory: cast(.registerRdmaMemory, LPFN_WSPREGISTERRDMAMEMORY.self),
            deregisterRdmaMemory: cast(.deregisterRdmaMemory, LPFN_WSPDEREGISTERRDMAMEMORY.self),
            rdmaWrite: cast(.rdmaWrite, LPFN_WSPRDMAWRITE.self),
            rdmaRead: cast(.rdmaRead, LPFN_WSPRDMAREAD?.self),
            memoryRegistrationCacheCallback: cast(.memoryRegistrationCacheCallback,
                                                  LPFN_WSPMEMORYREGISTRATIONCACHECALLBACK?.self))
    }

    /// WSPCleanup: undoes one WSPStartupEx.
    public func cleanup() throws(SanSwitchError) {
        var err: Int32 = 0
        if self.procs.lpWSPCleanup!(&err) != 0 { throw .call(function: "WSPCleanup", error: WSAError(err)) }
    }

    /// True when the provider filled the slot.
    public func has(_ slot: SanProcSlot) -> Bool { Self.has(self.procs, slot) }

    static func has(_ table: WSPPROC_TABLE, _ slot: SanProcSlot) -> Bool {
        withUnsafeBytes(of: table) { raw in raw.load(fromByteOffset: slot.rawValue * 8, as: UInt.self) != 0 }
    }

    static func lookUp(_ ext: SanExtension, _ table: WSPPROC_TABLE) -> Result<UnsafeRawPointer, WSAError> {
        var guid = ext.guid
        var fn: UnsafeRawPointer? = nil
        var returned: UInt32 = 0
        var err: Int32 = 0
        let rc = table.lpWSPIoctl!(sanInvalidSocket, SIO_GET_EXTENSION_FUNCTION_POINTER, &guid,
                                   UInt32(MemoryLayout<GUID>.size), &fn, UInt32(MemoryLayout<UnsafeRawPointer>.size),
                                   &returned, nil, nil, nil, &err)
        if rc != 0 { return .failure(WSAError(err == 0 ? WSAEINVAL : err)) }
        guard let fn else { return .failure(.fault) }
        return .success(fn)
    }

    /// The TCP/IP provider's protocol info the switch passes to WSPStartupEx (reference §1.1).
    static func tcpProtocolInfo() -> WSAPROTOCOL_INFOW {
        var info = WSAPROTOCOL_INFOW()
        info.iVersion = 2
        info.iAddressFamily = AF_INET
        info.iMaxSockAddr = Int32(MemoryLayout<sockaddr_in6>.size)
        info.iMinSockAddr = Int32(MemoryLayout<sockaddr_in>.size)
        info.iSocketType = Int32(SOCK_STREAM.rawValue)
        info.iProtocol = Int32(IPPROTO_TCP)
        info.dwMessageSize = 0
        return info
    }
}
