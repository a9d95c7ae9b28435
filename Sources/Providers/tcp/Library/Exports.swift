import CSanABI
import SanProviderTCP

/// libsan_tcp.so's only exported symbol (Sources/CSanABI/provider.map).
@_cdecl("WSPStartupEx")
public func WSPStartupEx(_ version: UInt16, _ data: UnsafeMutablePointer<WSPDATA>?,
                         _ protocolInfo: UnsafeMutablePointer<WSAPROTOCOL_INFOW>?,
                         _ upcalls: UnsafeMutablePointer<WSPUPCALLTABLEEX>?,
                         _ procTable: UnsafeMutablePointer<WSPPROC_TABLE>?) -> Int32 {
    TCPProvider.shared.startup(version: version, data: data, upcalls: upcalls, procTable: procTable)
}
