import SanSwitch
import Testing

/// What the suite did not run, as skipped tests with their reasons (Docs/Conformance.md §0).
/// Each test here is disabled exactly when some provider under test was excluded; when nothing
/// was excluded it runs and re-checks the premise.
@Suite struct CoverageConformance {
    static let cannotStartText = Comment(rawValue: Conformance.cannotStart.sorted { $0.key < $1.key }
        .map { "provider \($0.key) cannot start (\($0.value)): every conformance test skipped for it" }
        .joined(separator: "; "))

    static let notTransportText = Comment(rawValue: Conformance.notTransports.sorted { $0.key < $1.key }
        .map { "provider \($0.key) is not a transport by the capability rule (\($0.value)): the tests that need data movement or a real peer (messaging, RDMA, CF_REJECT, close, lost peer) skipped for it" }
        .joined(separator: "; "))

    @Test(.disabled(if: !Conformance.cannotStart.isEmpty, Self.cannotStartText))
    func everyProviderUnderTestStarts() throws {
        #expect(!Conformance.requested.isEmpty, "no provider to test")
        for name in Conformance.requested { _ = try Conformance.subject(name) }
    }

    @Test(.disabled(if: !Conformance.notTransports.isEmpty, Self.notTransportText))
    func everyProviderUnderTestIsATransport() throws {
        for name in Conformance.providers {
            let (transport, probe) = Subject.probeTransport(try Conformance.subject(name).provider)
            #expect(transport, "\(name): \(probe)")
        }
    }
}
