import ArgumentParser
import SanPerf
import SanSwitch

extension SanPerfCommand {
    /// The run's configuration from the command line; a ValidationError (usage, exit 64) when the
    /// flags contradict each other or a value is out of range.
    func makeConfig() throws -> PerfConfig {
        let p = self.placement
        let chosen = [p.loopback, p.server, p.connect != nil].filter { $0 }.count
        guard chosen == 1 else { throw ValidationError("choose exactly one of --loopback, --server, --connect HOST:PORT") }
        if p.port != nil && !p.server { throw ValidationError("--port applies to --server only (use --connect HOST:PORT)") }
        let where_: PerfPlacement
        if p.loopback {
            where_ = .loopback
        } else if p.server {
            where_ = .server(port: p.port ?? 18515)
        } else {
            do { where_ = .client(try SanAddress(p.connect!)) } catch { throw ValidationError("\(error)") }
        }
        let w = self.workload
        let config = PerfConfig(test: self.test, size: w.size, iterations: w.iterations, txDepth: w.txDepth,
                                provider: w.provider, placement: where_, completion: w.completion, wait: w.wait,
                                rawTCP: self.output.rawTCP, timeoutSeconds: w.timeout)
        do { try config.validate() } catch { throw ValidationError(error.description) }
        return config
    }
}
