import ArgumentParser

extension SanReplay {
    struct Query: ParsableCommand {
        func run() throws {}
    }
}
