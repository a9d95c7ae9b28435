import ArgumentParser

extension SanReplay {
    struct Export: ParsableCommand {
        func run() throws {}
    }
}
