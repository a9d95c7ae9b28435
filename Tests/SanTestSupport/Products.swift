#if canImport(Glibc)
import Glibc
#endif

/// Where the build put the products the tests load (providers, the interposer, the CLIs): the
/// folder of the running test binary, which SwiftPM shares with every product of the build.
public enum SanProducts {
    /// The products folder (`.build/debug` under `swift test`). `SANREPLAY_PRODUCTS` overrides it.
    public static var directory: String {
        if let env = getenv("SANREPLAY_PRODUCTS") { return String(cString: env) }
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        guard n > 0 else { return "." }
        let exe = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var dir = exe
        // .build/debug/sanreplayPackageTests.xctest is a file on Linux; strip to its folder.
        while let slash = dir.lastIndex(of: "/") {
            dir = String(dir[..<slash])
            if !dir.hasSuffix(".xctest") { break }
        }
        return dir
    }

    /// The path of a product file in the products folder.
    public static func path(_ name: String) -> String { self.directory + "/" + name }

    /// The package root (the folder holding Package.swift), found upwards from the products folder.
    public static var packageRoot: String {
        var dir = self.directory
        while dir.count > 1 {
            if access(dir + "/Package.swift", F_OK) == 0 { return dir }
            guard let slash = dir.lastIndex(of: "/") else { break }
            dir = String(dir[..<slash])
        }
        return "."
    }
}

extension SanProducts {
    /// The path of a C harness or test provider built by tools/build-harness, building them on
    /// first use when a plain `swift test` ran without tools/test.
    public static func harness(_ name: String) -> String {
        let p = self.path(name)
        if access(p, X_OK) != 0 && access(p, R_OK) != 0 {
            _ = system("cd '\(self.packageRoot)' && tools/build-harness '\(self.directory)'")
        }
        return p
    }
}
