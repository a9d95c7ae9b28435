// swift-tools-version: 6.1
//
// Benchmarks of the trace store (tools/bench/run runs them all, in release, with their baselines).
// A separate package so the main package never depends on benchmark code.
import Foundation
import PackageDescription

/// The main package's identity is the name of its folder (it differs between clones).
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

let package = Package(
    name: "santrace-bench",
    dependencies: [.package(path: root.path)],
    targets: [
        .executableTarget(name: "santrace-bench",
                          dependencies: [.product(name: "SanTraceStore", package: root.lastPathComponent)],
                          path: "Sources/santrace-bench"),
    ]
)
