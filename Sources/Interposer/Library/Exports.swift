import CSanABI
import SanInterpose

/// libsantrace.so's only exported symbol (Sources/CSanABI/provider.map): the interposing
/// WSPStartupEx. It finds the real provider (SANTRACE_PROVIDER, or the next WSPStartupEx in the
/// search order under LD_PRELOAD), starts recording and hands back wrapped tables.
@_cdecl("WSPStartupEx")
public func WSPStartupEx(_ version: UInt16, _ data: UnsafeMutablePointer<WSPDATA>?,
                         _ protocolInfo: UnsafeMutablePointer<WSAPROTOCOL_INFOW>?,
                         _ upcalls: UnsafeMutablePointer<WSPUPCALLTABLEEX>?,
                         _ procTable: UnsafeMutablePointer<WSPPROC_TABLE>?) -> Int32 {
    Recorder.startup(version: version, data: data, protocolInfo: protocolInfo, upcalls: upcalls, procTable: procTable)
}
