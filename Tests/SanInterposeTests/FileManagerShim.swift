import Foundation

enum FileManagerShim {
    static func touch(_ path: String) -> Bool { FileManager.default.createFile(atPath: path, contents: Data()) }
    static func read(_ path: String) -> [UInt8] { Array((try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data()) }
}
