// swift-tools-version: 6.1
//
// sanreplay — trace and replay for SAN service providers. The layout follows the data flow of
// Docs/DESIGN.md: ABI → Switch → Providers / Interposer → Trace format and store → Replay → Diff →
// CLI. No target imports anything to its right.
//
// Each shared library a process loads (a provider, the interposer) is one product built from a
// thin `*Library` target that holds only the exported `WSPStartupEx` and the linker settings (a
// version script exporting that one symbol, `-z nodelete`). The logic lives in a separate target,
// so tests can link it without inheriting those linker flags or a second `WSPStartupEx`.

import Foundation
import PackageDescription

let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path

/// Linker settings of a loadable SAN provider: export only `WSPStartupEx` (rdma-core's
/// provider.map), and never unload (a dlclose under running provider threads crashes).
let providerLinkerSettings: [LinkerSetting] = [
    .unsafeFlags([
        "-Xlinker", "--version-script=\(root)/Sources/CSanABI/provider.map",
        "-Xlinker", "-z", "-Xlinker", "nodelete",
    ])
]

/// The trace encoder and decoder run per event on one thread per object: dynamic exclusivity
/// checks on class properties cost them about a quarter of their time (perf, Docs/TraceFormat.md
/// §9.2), so those two targets turn the checks off. They are optimised in debug builds
/// too: the interposer's drain writes through them inside traced programs, and unoptimised it
/// keeps up with a tenth of the events a test workload produces.
let traceHotPathSettings: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked", "-O"])]

let package = Package(
    name: "sanreplay",
    products: [
        .library(name: "san_null", type: .dynamic, targets: ["SanNullLibrary"]),
        .library(name: "santrace", type: .dynamic, targets: ["SanTraceLibrary"]),
        .library(name: "san_verbs", type: .dynamic, targets: ["SanVerbsLibrary"]),
        .library(name: "san_tcp", type: .dynamic, targets: ["SanTCPLibrary"]),
        .executable(name: "sanperf", targets: ["SanPerfCLI"]),
        .executable(name: "san-conformance-peer", targets: ["SanConformancePeer"]),
        .executable(name: "sanreplay", targets: ["SanReplayCLI"]),
        .library(name: "SanTraceStore", targets: ["SanTraceStore", "SanTraceFormat"]),
        .library(name: "SanDiff", targets: ["SanDiff", "SanReport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        // MARK: System libraries (pkg-config)
        .systemLibrary(name: "CLZ4", path: "Sources/System/CLZ4", pkgConfig: "liblz4",
                       providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CSQLite", path: "Sources/System/CSQLite", pkgConfig: "sqlite3",
                       providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CIBVerbs", path: "Sources/System/CIBVerbs", pkgConfig: "libibverbs",
                       providers: [.apt(["libibverbs-dev"])]),

        // MARK: ABI and core types
        .target(name: "CSanABI", path: "Sources/CSanABI", exclude: ["provider.map"]),
        .target(name: "CSanSupport", path: "Sources/CSanSupport"),
        .target(name: "SanCore", dependencies: ["CSanABI"], path: "Sources/SanCore"),
        // JSON text without Foundation, for every report a library writes.
        .target(name: "JSONText", path: "Sources/JSONText"),

        // MARK: Switch (caller side)
        .target(name: "SanSwitch", dependencies: ["SanCore", "CSanABI", "CSanSupport"], path: "Sources/SanSwitch"),

        // MARK: Providers
        .target(name: "SanProviderKit", dependencies: ["SanCore", "CSanABI", "CSanSupport"],
                path: "Sources/Providers/Kit"),
        .target(name: "SanProviderNull", dependencies: ["SanProviderKit"], path: "Sources/Providers/null/Provider"),
        .target(name: "SanNullLibrary", dependencies: ["SanProviderNull"], path: "Sources/Providers/null/Library",
                linkerSettings: providerLinkerSettings),
        .target(name: "CSanVerbsSupport", path: "Sources/Providers/verbs/CSupport"),
        .target(name: "SanProviderVerbs", dependencies: ["SanProviderKit", "CIBVerbs", "CSanVerbsSupport"],
                path: "Sources/Providers/verbs/Provider"),
        .target(name: "SanVerbsLibrary", dependencies: ["SanProviderVerbs"], path: "Sources/Providers/verbs/Library",
                linkerSettings: providerLinkerSettings),
        .target(name: "CSanTCP", path: "Sources/Providers/tcp/CSanTCP"),
        .target(name: "SanProviderTCP", dependencies: ["SanProviderKit", "CSanTCP"], path: "Sources/Providers/tcp/Provider"),
        .target(name: "SanTCPLibrary", dependencies: ["SanProviderTCP"], path: "Sources/Providers/tcp/Library",
                linkerSettings: providerLinkerSettings),

        // MARK: Trace format and store
        .target(name: "SanTraceFormat", dependencies: ["SanCore"], path: "Sources/Trace/SanTraceFormat",
                swiftSettings: traceHotPathSettings),
        .target(name: "SanTraceStore", dependencies: ["SanTraceFormat", "SanCore", "CSanABI", "CLZ4", "CSQLite", "CSanSupport",
                                                     "JSONText"],
                path: "Sources/Trace/SanTraceStore", swiftSettings: traceHotPathSettings),

        // MARK: Interposer (libsantrace.so)
        .target(name: "CSanTrace", dependencies: ["CSanABI", "CSanSupport"], path: "Sources/Interposer/CSanTrace",
                exclude: ["generated/README.md"], cSettings: [.unsafeFlags(["-O2"])]),
        .target(name: "SanInterpose", dependencies: ["CSanTrace", "CSanABI", "CSanSupport", "SanCore", "SanTraceStore",
                                                     "SanTraceFormat"],
                path: "Sources/Interposer/SanInterpose",
                // The drain keeps up with 8 busy threads only when optimised, debug builds included;
                // it converts per event, so no dynamic exclusivity checks either (as in the store).
                swiftSettings: [.unsafeFlags(["-O", "-enforce-exclusivity=unchecked"])]),
        .target(name: "SanTraceLibrary", dependencies: ["SanInterpose"], path: "Sources/Interposer/Library",
                linkerSettings: providerLinkerSettings),
        // `sanreplay record`: finds libsantrace.so, runs a command with it attached, summarises.
        .target(name: "SanRecord", dependencies: ["SanTraceStore", "SanTraceFormat", "SanSwitch"], path: "Sources/Interposer/Record"),

        // MARK: Workloads, replay, diff
        .target(name: "SanPerf", dependencies: ["SanSwitch", "SanCore", "CSanABI", "JSONText",
                                                .product(name: "Histogram", package: "hdrhistogram-swift")],
                path: "Sources/SanPerf"),
        .target(name: "CSanReplay", path: "Sources/Replay/CSanReplay", cSettings: [.unsafeFlags(["-O2"])]),
        .target(name: "SanReplay", dependencies: ["SanTraceStore", "SanTraceFormat", "SanSwitch", "SanCore", "CSanABI",
                                                  "CSanSupport", "CSanReplay", "JSONText"],
                path: "Sources/Replay/SanReplay", swiftSettings: traceHotPathSettings),
        .target(name: "SanDiff", dependencies: ["SanTraceStore", "SanTraceFormat", "SanCore", "JSONText"], path: "Sources/Diff/SanDiff",
                swiftSettings: traceHotPathSettings),
        .target(name: "SanReport", dependencies: ["SanDiff", "SanTraceStore", "SanTraceFormat", "JSONText"],
                path: "Sources/Report/SanReport", swiftSettings: traceHotPathSettings),

        // MARK: Command-line tools
        .executableTarget(name: "SanPerfCLI", dependencies: ["SanPerf", "SanSwitch",
                                                             .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          path: "Sources/CLI/sanperf"),
        .executableTarget(name: "SanReplayCLI", dependencies: [
            "SanTraceStore", "SanTraceFormat", "SanCore", "SanRecord", "SanReplay", "SanDiff", "SanReport", "JSONText",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/CLI/sanreplay"),

        // MARK: Tests
        .target(name: "SanTestSupport", dependencies: ["SanCore"], path: "Tests/SanTestSupport"),
        .target(name: "TraceTestSupport", dependencies: ["SanTraceStore", "SanTraceFormat"], path: "Tests/TraceTestSupport"),
        .testTarget(name: "SanABITests", dependencies: ["CSanABI", "SanCore"]),
        .testTarget(name: "SanSwitchTests", dependencies: ["SanSwitch", "SanTestSupport"]),
        .testTarget(name: "SanInterposeTests", dependencies: ["SanInterpose", "CSanTrace", "SanTestSupport", "SanRecord", "SanSwitch"]),
        .testTarget(name: "SanProviderVerbsTests",
                    dependencies: ["SanProviderVerbs", "CIBVerbs", "CSanSupport", "CSanVerbsSupport"]),
        .testTarget(name: "SanProviderTCPTests",
                    dependencies: ["SanProviderTCP", "SanProviderKit", "SanSwitch", "SanTestSupport", "CSanABI", "CSanTCP",
                                   "SanCore"]),
        .testTarget(name: "SanPerfTests", dependencies: ["SanPerf", "SanSwitch", "SanTestSupport"]),
        .testTarget(name: "SanConformanceTests", dependencies: ["SanSwitch", "SanCore", "CSanABI", "SanTestSupport"]),
        .executableTarget(name: "SanConformancePeer", dependencies: ["SanSwitch", "SanCore"], path: "Tests/ConformancePeer"),
        .testTarget(name: "SanTraceFormatTests", dependencies: ["SanTraceFormat"]),
        .testTarget(name: "SanTraceStoreTests", dependencies: ["SanTraceStore", "SanTraceFormat", "SanTestSupport",
                                                               "TraceTestSupport"]),
        .testTarget(name: "SanReplayTests", dependencies: ["SanReplay", "SanTraceStore", "SanTraceFormat", "SanSwitch",
                                                           "CSanReplay", "SanTestSupport"]),
        .testTarget(name: "SanDiffTests", dependencies: ["SanDiff", "SanTraceStore", "SanTraceFormat", "TraceTestSupport"]),
        .testTarget(name: "SanReportTests", dependencies: ["SanReport", "SanDiff", "SanTraceStore", "SanTraceFormat",
                                                           "TraceTestSupport"]),
    ]
)
