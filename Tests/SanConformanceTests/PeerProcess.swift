#if canImport(Glibc)
import Glibc
#endif
import SanSwitch
import SanTestSupport

/// The conformance peer (Tests/ConformancePeer) in a child process, driven line by line over its
/// stdin and stdout. Killing it (SIGKILL) is how the suite loses a peer.
final class PeerProcess {
    let pid: pid_t
    private let input: Int32
    private let output: Int32
    private var pending: [UInt8] = []
    private var exited = false

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Starts the peer for `provider` and waits for its `ready`.
    init(provider: String) throws {
        let exe = SanProducts.path("san-conformance-peer")
        var toChild: [Int32] = [0, 0], fromChild: [Int32] = [0, 0]
        guard pipe(&toChild) == 0, pipe(&fromChild) == 0 else { throw Failure(description: "pipe failed") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toChild[0], 0)
        posix_spawn_file_actions_adddup2(&actions, fromChild[1], 1)
        for fd in [toChild[0], toChild[1], fromChild[0], fromChild[1]] { posix_spawn_file_actions_addclose(&actions, fd) }
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(exe), strdup(provider), nil]
        defer { argv.forEach { free($0) } }
        let rc = posix_spawn(&pid, exe, &actions, nil, argv, environ)
        close(toChild[0])
        close(fromChild[1])
        guard rc == 0 else {
            close(toChild[1])
            close(fromChild[0])
            throw Failure(description: "cannot start \(exe): \(String(cString: strerror(rc)))")
        }
        self.pid = pid
        self.input = toChild[1]
        self.output = fromChild[0]
        let first = try self.readLine(timeoutMilliseconds: 10_000)
        guard first == "ready" else { throw Failure(description: "peer did not start: \(first)") }
    }

    deinit {
        if !self.exited {
            kill(self.pid, SIGKILL)
            var status: Int32 = 0
            waitpid(self.pid, &status, 0)
        }
        close(self.input)
        close(self.output)
    }

    /// Sends one command and returns the text after `ok` (throws on `err`).
    @discardableResult
    func run(_ command: String, timeoutMilliseconds: Int32 = 20_000) throws -> String {
        try self.begin(command)
        return try self.answer(command, timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Sends a command without waiting for its answer (the peer blocks in it, e.g. `accept`).
    func begin(_ command: String) throws {
        var line = Array((command + "\n").utf8)
        let n = write(self.input, &line, line.count)
        guard n == line.count else { throw Failure(description: "peer stdin closed") }
    }

    /// The answer to a command sent with ``begin(_:)``.
    @discardableResult
    func answer(_ command: String, timeoutMilliseconds: Int32 = 20_000) throws -> String {
        let answer = try self.readLine(timeoutMilliseconds: timeoutMilliseconds)
        if answer == "ok" { return "" }
        if answer.hasPrefix("ok ") { return String(answer.dropFirst(3)) }
        throw Failure(description: "peer: `\(command)` → \(answer)")
    }

    /// SIGKILL, and reap it.
    func kill9() {
        kill(self.pid, SIGKILL)
        var status: Int32 = 0
        waitpid(self.pid, &status, 0)
        self.exited = true
    }

    private func readLine(timeoutMilliseconds: Int32) throws -> String {
        while true {
            if let nl = self.pending.firstIndex(of: 10) {
                let line = String(decoding: self.pending[..<nl], as: UTF8.self)
                self.pending.removeSubrange(...nl)
                return line
            }
            var p = pollfd(fd: self.output, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, timeoutMilliseconds) == 1 else { throw Failure(description: "peer did not answer in time") }
            var buf = [UInt8](repeating: 0, count: 65536)
            let n = read(self.output, &buf, buf.count)
            guard n > 0 else { throw Failure(description: "peer exited") }
            self.pending += buf[0..<n]
        }
    }
}

/// Hex helpers matching the peer's.
enum Hex {
    static func encode(_ bytes: [UInt8]) -> String {
        bytes.isEmpty ? "-" : bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }
    static func decode(_ s: String) -> [UInt8] {
        if s == "-" { return [] }
        let u = Array(s.utf8)
        return stride(from: 0, to: u.count - 1, by: 2).map { UInt8(String(decoding: u[$0...($0 + 1)], as: UTF8.self), radix: 16) ?? 0 }
    }
}

/// A connection from this process to a peer process: the peer listens and accepts, we connect.
func connectToPeer(_ s: Subject) throws -> (PeerProcess, SanSocket) {
    let peer = try PeerProcess(provider: s.path)
    let port = try peer.run("listen")
    try peer.begin("accept")
    let c = try SanSocket(provider: s.provider)
    try c.connect(to: .loopback(port: UInt16(port) ?? 0))
    try peer.answer("accept")
    return (peer, c)
}
