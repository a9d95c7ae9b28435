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
/// §9.2), so those two targets turn the checks off.
let traceHotPathSettings: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"])]

let package = Package(
    name: "sanreplay",
    products: [
        .library(name: "san_null", type: .dynamic, targets: ["SanNullLibrary"]),
        .executable(name: "sanreplay", targets: ["SanReplayCLI"]),
        .library(name: "SanTraceStore", targets: ["SanTraceStore", "SanTraceFormat"]),
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

        // MARK: Switch (caller side)

        // MARK: Providers
        .target(name: "SanProviderKit", dependencies: ["SanCore", "CSanABI", "CSanSupport"],
                path: "Sources/Providers/Kit"),
        .target(name: "SanProviderNull", dependencies: ["SanProviderKit"], path: "Sources/Providers/null/Provider"),
        .target(name: "SanNullLibrary", dependencies: ["SanProviderNull"], path: "Sources/Providers/null/Library",
                linkerSettings: providerLinkerSettings),

        // MARK: Trace format and store
        .target(name: "SanTraceFormat", dependencies: ["SanCore"], path: "Sources/Trace/SanTraceFormat",
                swiftSettings: traceHotPathSettings),
        .target(name: "SanTraceStore", dependencies: ["SanTraceFormat", "SanCore", "CSanABI", "CLZ4", "CSQLite", "CSanSupport"],
                path: "Sources/Trace/SanTraceStore", swiftSettings: traceHotPathSettings),

        // MARK: Interposer (libsantrace.so)

        // MARK: Workloads, replay, diff

        // MARK: Command-line tools
        .executableTarget(name: "SanReplayCLI", dependencies: [
            "SanTraceStore", "SanTraceFormat", "SanCore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/CLI/sanreplay"),

        // MARK: Tests
        .target(name: "SanTestSupport", dependencies: ["SanCore"], path: "Tests/SanTestSupport"),
        .testTarget(name: "SanABITests", dependencies: ["CSanABI", "SanCore"]),
        .testTarget(name: "SanTraceFormatTests", dependencies: ["SanTraceFormat"]),
        .testTarget(name: "SanTraceStoreTests", dependencies: ["SanTraceStore", "SanTraceFormat", "SanTestSupport"]),
    ]
)
