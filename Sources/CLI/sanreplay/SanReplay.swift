import ArgumentParser

/// `sanreplay`: trace, replay and compare SAN provider traffic. The root command only lists the
/// subcommands (one file each); their logic lives in the SanTrace* libraries.
@main
struct SanReplay: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sanreplay",
        abstract: "Inspect, check, replay and compare .santrace traces of SAN SPI providers.",
        discussion: """
            A trace is one .santrace file per recorded process (SQLite with LZ4-compressed
            event segments; format: Docs/TraceFormat.md). A trace set is a folder of them.

            EXIT CODES (every subcommand; CI may branch on them)
              0   OK: the command did what was asked; traces intact; diff: equal
              1   differences: diff found a semantic divergence (replay checks failed)
              2   a damaged or unreadable trace (wrong magic, truncated, bad checksum, a
                  foreign SQLite database, a newer format major, an empty file, a folder
                  where a file was expected)
              3   diff: a performance regression past the threshold, no semantic divergence
              4   diff: both a semantic divergence and a performance regression
              64  usage error (bad options or arguments)
              other  an internal failure (a bug: please report it)

            EXAMPLES
              sanreplay verify run/client.santrace
              sanreplay dump run/client.santrace --fn WSPRdmaWrite --from 1s --to 1.5s
              sanreplay stats run/ --json
              sanreplay diff baseline/ candidate/ --threshold 5
              sanreplay query run/client.santrace latency
              sanreplay export run/ --format chrome -o run.json   # for ui.perfetto.dev
              sanreplay report baseline/ candidate/ -o report.html

            Shell completion: sanreplay --generate-completion-script bash (or zsh, fish).
            """,
        version: "0.1.0",
        subcommands: [Record.self, Replay.self, Verify.self, Dump.self, Stats.self, Index.self, Synthesize.self, Diff.self,
                      Query.self, Export.self, Report.self]
    )

    /// Runs the command and maps every failure to an exit code in one place (SanReplayExit).
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            SanReplayExit.exit(for: error, command: self)
        }
    }
}
