#if canImport(Glibc)
import Glibc
#endif
import SanCore
import SanSwitch
import SanTestSupport
import Testing

@Suite struct LoadingTests {
    @Test func loadsNullByPathWithAllExtensions() throws {
        let p = try SanProvider.load(SanProducts.path("libsan_null.so"))
        #expect(p.version == 0x0202)
        #expect(p.providerDescription.contains("null"))
        for ext in SanExtension.allCases { #expect(p.lookups[ext] == .some(nil), "\(ext)") }
        #expect(p.extensions.rdmaRead != nil)
        #expect(p.has(.send) && !p.has(.shutdown))
        try p.cleanup()
    }

    @Test func shortNamesResolveThroughSearchPath() throws {
        // The test binary sits next to the products, one of the folders searched.
        let path = try ProviderLocator.resolve("null")
        #expect(path.hasSuffix("/libsan_null.so"))
        #expect(throws: SanSwitchError.self) { try ProviderLocator.resolve("no-such-provider") }
        do {
            _ = try ProviderLocator.resolve("no-such-provider")
        } catch {
            #expect(error.description.contains("libsan_no-such-provider.so"))
        }
    }

    @Test func refusesLibrariesThatAreNotProviders() {
        #expect(throws: SanSwitchError.self) { try SanProvider.load("/nonexistent/libsan_x.so") }
        do {
            _ = try SanProvider.load("/lib/x86_64-linux-gnu/libm.so.6")
            Issue.record("libm loaded as a provider")
        } catch {
            guard case .noEntryPoint(let path) = error else {
                Issue.record("expected noEntryPoint, got \(error)")
                return
            }
            #expect(path.hasSuffix("libm.so.6"))
        }
    }

    /// One test, sequential, because the broken provider reads SAN_BROKEN_MISSING at startup.
    @Test func refusesProvidersLackingRequiredFunctionsByName() {
        let path = SanProducts.harness("libsan_broken.so")
        func load(missing: String) -> SanSwitchError? {
            setenv("SAN_BROKEN_MISSING", missing, 1)
            defer { unsetenv("SAN_BROKEN_MISSING") }
            do {
                _ = try SanProvider.load(path)
                return nil
            } catch { return error }
        }
        let sendErr = load(missing: "WSPSend")
        #expect(sendErr?.description.contains("WSPSend") == true, "\(String(describing: sendErr))")
        #expect(load(missing: "WSPAccept")?.description.contains("WSPAccept") == true)
        let ext = load(missing: "WSPRdmaWrite")
        #expect(ext?.description.contains("WSPRdmaWrite") == true)
        #expect(ext?.wsaError == .operationNotSupported)
        #expect(load(missing: "startup")?.wsaError == .systemNotReady)
        // RdmaRead and the cache callback are optional: their absence is accepted.
        #expect(load(missing: "WSPRdmaRead") == nil)
    }
}
