import ArgumentParser

/// `sanreplay`: trace, replay and compare SAN provider traffic. The root command only lists the
/// subcommands (one file each); their logic lives in the SanTrace* libraries.
@main
struct SanReplay: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sanreplay",
        abstract: "Inspect, check, replay and compare .santrace traces of SAN SPI providers.",
        discussion: """
            A trace is one .santrace file per recorded process (SQLite with LZ4-compressed event
            segments; format: Docs/TraceFormat.md). A trace set is a folder of them.

            EXIT CODES (every subcommand; CI may branch on them)
              0   OK: the command did what was asked; traces intact, no differences
              1   differences or a regression past a threshold (diff, replay checks)
              2   a damaged or unreadable trace (wrong magic, truncated, bad checksum, a foreign
                  SQLite database, a newer format major, an empty file, a folder where a file
                  was expected)
              64  usage error (bad options or arguments)
              other  an internal failure (a bug: please report it)

            EXAMPLES
              sanreplay verify run/client.santrace
              sanreplay dump run/client.santrace --fn WSPRdmaWrite --from 1s --to 1.5s
              sanreplay stats run/ --json
            """,
        version: "0.1.0",
        subcommands: [Record.self, Replay.self, Verify.self, Dump.self, Stats.self, Index.self, Synthesize.self]
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
