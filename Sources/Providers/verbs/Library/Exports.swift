import CSanABI
import SanProviderVerbs

/// libsan_verbs.so's only exported symbol (Sources/CSanABI/provider.map).
@_cdecl("WSPStartupEx")
public func WSPStartupEx(_ version: UInt16, _ data: UnsafeMutablePointer<WSPDATA>?,
                         _ protocolInfo: UnsafeMutablePointer<WSAPROTOCOL_INFOW>?,
                         _ upcalls: UnsafeMutablePointer<WSPUPCALLTABLEEX>?,
                         _ procTable: UnsafeMutablePointer<WSPPROC_TABLE>?) -> Int32 {
    VerbsProvider.shared.startup(version: version, data: data, upcalls: upcalls, procTable: procTable)
}
