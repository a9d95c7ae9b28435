// san-conformance-peer: the other end of the provider conformance suite's two-process checks.
//
//     san-conformance-peer PROVIDER
//
// Loads the provider (name or path), prints `ready`, then executes one command per stdin line
// and answers each with one stdout line, `ok [RESULT]` or `err MESSAGE`. Between commands it calls
// nothing: while the suite RDMA-writes into or reads from its memory, this process is blocked
// reading stdin, which is how the suite shows RDMA is one-sided.
//
//     listen                    → ok PORT          bind 127.0.0.1 (ephemeral port), listen
//     accept                    → ok               accept one connection (10 s)
//     connect HOST:PORT         → ok
//     reg-rdma SIZE ACCESS FILL → ok HEXDESCRIPTOR allocate SIZE bytes of FILL, WSPRegisterRdmaMemory
//     dereg-rdma                → ok
//     dump OFFSET LENGTH        → ok HEX           the region's bytes (read locally)
//     post-recv COUNT SIZE      → ok               register COUNT×SIZE bytes, post COUNT receives
//     wait-recv COUNT           → ok HEX…          wait for the next COUNT posted receives, in order
//     send HEX                  → ok               register, send, wait for the completion
//     close                     → ok               WSPCloseSocket of the connection
//     exit
#if canImport(Glibc)
import Glibc
#endif
import SanCore
import SanSwitch

/// One answer line, written at once (stdout is a pipe: no stdio buffering in between).
func say(_ line: String) {
    var bytes = Array((line + "\n").utf8)
    _ = write(1, &bytes, bytes.count)
}

let args = CommandLine.arguments
guard args.count == 2 else {
    say("usage: san-conformance-peer PROVIDER")
    exit(64)
}
let provider: SanProvider
do { provider = try SanProvider.load(args[1]) } catch {
    say("err \(error)")
    exit(69)
}
var peer = Peer(provider: provider)
say("ready")
while let line = readLine() {
    let words = line.split(separator: " ").map(String.init)
    guard let verb = words.first else { continue }
    if verb == "exit" { break }
    do {
        let result = try peer.execute(verb, Array(words.dropFirst()))
        say(result.isEmpty ? "ok" : "ok \(result)")
    } catch {
        say("err \(error)")
    }
}
exit(0)
