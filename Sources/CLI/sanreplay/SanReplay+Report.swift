import ArgumentParser

extension SanReplay {
    struct Report: ParsableCommand {
        func run() throws {}
    }
}
