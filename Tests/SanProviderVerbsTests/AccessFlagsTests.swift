import CIBVerbs
import SanCore
@testable import SanProviderVerbs
import Testing

/// The registration-rights mapping of reference §5.2.
@Suite struct AccessFlagsTests {
    @Test func bitsAreLibibverbsValues() {
        #expect(VerbsAccess.localWrite.rawValue == IBV_ACCESS_LOCAL_WRITE.rawValue)
        #expect(VerbsAccess.remoteWrite.rawValue == IBV_ACCESS_REMOTE_WRITE.rawValue)
        #expect(VerbsAccess.remoteRead.rawValue == IBV_ACCESS_REMOTE_READ.rawValue)
    }

    @Test func localRegistrations() {
        #expect(VerbsAccessMapping.local(.read) == .success([]))
        #expect(VerbsAccessMapping.local(.write) == .success(.localWrite))
        #expect(VerbsAccessMapping.local(.readWrite) == .success(.localWrite))
    }

    @Test func rdmaRegistrations() {
        #expect(VerbsAccessMapping.remote(.read) == .success(.remoteRead))
        #expect(VerbsAccessMapping.remote(.write) == .success([.localWrite, .remoteWrite]))
        #expect(VerbsAccessMapping.remote(.readWrite) == .success([.localWrite, .remoteWrite, .remoteRead]))
    }

    /// Read-only must not be writable and write-only must not be readable, by the peer
    /// (reference §1.2, §4.4); and ibv_reg_mr refuses REMOTE_WRITE without LOCAL_WRITE.
    @Test func rightsAreExact() {
        for access in [SanAccess.read, .write, .readWrite] {
            guard case .success(let flags) = VerbsAccessMapping.remote(access) else {
                Issue.record("\(access) refused")
                continue
            }
            #expect(flags.contains(.remoteRead) == access.contains(.read))
            #expect(flags.contains(.remoteWrite) == access.contains(.write))
            if flags.contains(.remoteWrite) { #expect(flags.contains(.localWrite)) }
        }
    }

    @Test func invalidFlagsAreRefused() {
        for raw: UInt32 in [0, 4, 7, 0x8000_0001] {
            #expect(VerbsAccessMapping.local(SanAccess(rawValue: raw)) == .failure(.invalidArgument))
            #expect(VerbsAccessMapping.remote(SanAccess(rawValue: raw)) == .failure(.invalidArgument))
        }
    }

    @Test func theQueuePairAllowsWhatRegionsMayGrant() {
        #expect(VerbsAccessMapping.queuePair == [.localWrite, .remoteWrite, .remoteRead])
        #expect(VerbsAccess([.localWrite, .remoteRead]).description == "LOCAL_WRITE|REMOTE_READ")
    }
}
