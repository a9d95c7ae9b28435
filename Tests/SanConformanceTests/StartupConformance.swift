import CSanABI
import SanCore
import SanSwitch
import Testing

/// Startup and extension look-ups (Docs/Conformance.md §1).
@Suite struct StartupConformance {
    @Test(arguments: Conformance.providers)
    func startupAndExtensionLookUps(_ name: String) throws {
        let p = try Conformance.subject(name).provider
        #expect(p.version == 0x0202, "WSPDATA.wVersion")
        for slot in SanProvider.requiredSlots { #expect(p.has(slot), "\(slot.functionName) must be filled") }
        for ext in SanExtension.allCases {
            if ext.isRequired {
                #expect(p.lookups[ext] == .some(nil), "\(ext.functionName) is required")
            } else {
                let answer = p.lookups[ext] ?? nil
                #expect(answer == nil || answer == .operationNotSupported,
                        "\(ext.functionName): supported, or WSAEOPNOTSUPP; got \(String(describing: answer))")
            }
        }
        // An unknown GUID answers WSAEINVAL; an output block too small for a pointer WSAEFAULT.
        #expect(Self.lookUp(p, guid: GUID(Data1: 0x1234_5678, Data2: 1, Data3: 2, Data4: (1, 2, 3, 4, 5, 6, 7, 8)),
                            outputLength: 8) == .invalidArgument)
        #expect(Self.lookUp(p, guid: SanExtension.registerMemory.guid, outputLength: 4) == .fault)
    }

    /// WSPIoctl(INVALID_SOCKET, SIO_GET_EXTENSION_FUNCTION_POINTER) as the switch calls it; nil on success.
    static func lookUp(_ p: SanProvider, guid: GUID, outputLength: UInt32) -> WSAError? {
        var g = guid
        var out: UInt64 = 0
        var returned: UInt32 = 0
        var err: Int32 = 0
        let rc = p.procs.lpWSPIoctl!(sanInvalidSocket, SIO_GET_EXTENSION_FUNCTION_POINTER, &g, 16, &out, outputLength,
                                     &returned, nil, nil, nil, &err)
        return rc == 0 ? nil : WSAError(err)
    }
}
