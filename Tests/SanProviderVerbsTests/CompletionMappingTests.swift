import CIBVerbs
import SanCore
@testable import SanProviderVerbs
import Testing

/// Work-completion status → overlapped result (reference §5.3).
@Suite struct CompletionMappingTests {
    @Test func statusValuesAreLibibverbsValues() {
        #expect(VerbsCompletionStatus.success == IBV_WC_SUCCESS.rawValue)
        #expect(VerbsCompletionStatus.flushed == IBV_WC_WR_FLUSH_ERR.rawValue)
        #expect(VerbsCompletionStatus.name(IBV_WC_REM_ACCESS_ERR.rawValue) == "IBV_WC_REM_ACCESS_ERR")
        #expect(VerbsCompletionStatus.name(IBV_WC_RNR_RETRY_EXC_ERR.rawValue) == "IBV_WC_RNR_RETRY_EXC_ERR")
        #expect(VerbsCompletionStatus.name(IBV_WC_GENERAL_ERR.rawValue) == "IBV_WC_GENERAL_ERR")
        #expect(VerbsCompletionStatus.name(99) == "IBV_WC status 99")
    }

    @Test func successReportsBytes() {
        // Receives and RDMA reads: byte_len. Sends and RDMA writes: what was posted.
        let cases: [(VerbsOperationKind, UInt32)] = [(.receive, 700), (.rdmaRead, 700), (.send, 4096), (.rdmaWrite, 4096)]
        for (kind, expected) in cases {
            let r = VerbsCompletionMapping.result(status: IBV_WC_SUCCESS.rawValue, kind: kind, completionLength: 700,
                                                  postedLength: 4096)
            #expect(r == VerbsCompletionResult(error: nil, bytes: expected, failsSocket: false), "\(kind)")
        }
    }

    @Test func flushIsAbortedWithNoBytes() {
        for kind in [VerbsOperationKind.send, .receive, .rdmaWrite, .rdmaRead] {
            let r = VerbsCompletionMapping.result(status: IBV_WC_WR_FLUSH_ERR.rawValue, kind: kind, completionLength: 9,
                                                  postedLength: 9)
            #expect(r == VerbsCompletionResult(error: .operationAborted, bytes: 0, failsSocket: false))
            #expect(r.error?.rawValue == 995)
        }
    }

    @Test func everyOtherStatusAbortsTheConnection() {
        for status in 1...IBV_WC_GENERAL_ERR.rawValue where status != IBV_WC_WR_FLUSH_ERR.rawValue {
            let r = VerbsCompletionMapping.result(status: status, kind: .rdmaWrite, completionLength: 9, postedLength: 9)
            #expect(r == VerbsCompletionResult(error: .connectionAborted, bytes: 0, failsSocket: true),
                    "\(VerbsCompletionStatus.name(status))")
        }
        #expect(VerbsCompletionMapping.result(status: 1000, kind: .send, completionLength: 1, postedLength: 1).failsSocket)
    }
}
