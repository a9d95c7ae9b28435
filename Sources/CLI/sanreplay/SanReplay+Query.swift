import ArgumentParser
import SanReport
import SanTraceFormat
import SanTraceStore

extension SanReplay {
    struct Query: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read-only SQL over a trace, or a canned report (top, latency, inflight, errors, leaks).",
            discussion: """
                QUERY is one SQL statement, or the name of a canned report. The trace is opened
                read-only; a statement that would write is refused (exit 64).

                VIEWS (created for the connection only; columns in Docs/TraceFormat.md §8.1)
                  calls, completions, function_latency     need the event index
                  function_totals, size_totals             per function (and size class)
                  registration_lifetimes, socket_lifetimes, connections, function_names
                  and the trace's tables: events, events_named, meta, sockets, …
                A trace without the event index is indexed in memory for the query when it
                holds at most 2 M events; a larger one needs `sanreplay index TRACE` (or
                --index, which runs it). Filter calls in time with end_ns (indexed).

                CANNED REPORTS (no SQL, no index; --fn, --socket, --thread, --from, --to select
                the segments read)
                  top        the slowest calls, with the thread's previous call and the
                             operations in flight on the socket
                  latency    percentiles and shape per function and size class
                  inflight   operations started, completed, outstanding over time
                  errors     failures per function and error
                  leaks      registrations never released, sockets never closed

                EXAMPLES
                  sanreplay query c.santrace "select * from function_latency"
                  sanreplay query c.santrace "select seq, latency_ns from calls
                      where function = 'WSPRdmaWrite' and end_ns between 1e8 and 2e8"
                  sanreplay query c.santrace "select * from registration_lifetimes
                      where leaked" --format csv
                  sanreplay query c.santrace latency --fn WSPRdmaWrite --json
                  sanreplay query c.santrace top --limit 10
                  sanreplay query c.santrace inflight --bins 20 --from 1s --to 2s
                """)

        @OptionGroup var input: TraceInputOptions
        @Argument(help: ArgumentHelp("One SQL statement, or top, latency, inflight, errors, leaks.", valueName: "QUERY"),
                  completion: .list(CannedReport.allCases.map(\.rawValue)))
        var query: String
        @Option(help: "table, csv or json.")
        var format: ResultFormat = .table
        @Flag(name: .long, help: "Same as --format json.")
        var json = false
        @Flag(name: .long, help: "Build the persistent event index first when the query needs it (writes the trace, like `sanreplay index`).")
        var index = false
        @Option(help: ArgumentHelp("top: rows shown.", valueName: "N"))
        var limit: Int = 20
        @Option(help: ArgumentHelp("inflight: time bins.", valueName: "N"))
        var bins: Int = 50
        @OptionGroup(title: "Filters of the canned reports") var filters: EventFilterOptions

        var canned: CannedReport? { CannedReport(rawValue: self.query.trimmingSpaces().lowercased()) }
        var resultFormat: ResultFormat { self.json ? .json : self.format }

        func validate() throws {
            guard self.limit > 0, self.bins > 0 else { throw ValidationError("--limit and --bins must be positive") }
            let filtered = !self.filters.functions.isEmpty || !self.filters.socket.isEmpty || !self.filters.thread.isEmpty
                || self.filters.from != nil || self.filters.to != nil || self.filters.errors
            if self.canned == nil && filtered {
                throw ValidationError("--fn, --socket, --thread, --from, --to and --errors filter the canned reports; in SQL use WHERE")
            }
        }

        func run() throws {
            let out = Output()
            if let report = self.canned {
                let reader = try TraceReader(path: self.input.trace)
                var o = CannedOptions()
                o.filter = self.filters.filter(for: reader)
                o.limit = self.limit
                o.bins = self.bins
                o.human = self.resultFormat == .table
                let total = try reader.candidateSegments(o.filter).reduce(UInt64(0)) { $0 + $1.events }
                let bar = ProgressBar(total: total, label: report.rawValue)
                o.progress = bar.callback
                let table = try report.run(self.input.trace, o)
                bar.finish()
                table.write(self.resultFormat) { out.line($0) }
                out.flush()
                return
            }
            do {
                let engine = try QueryEngine(path: self.input.trace)
                if self.index && !engine.hasEvents {
                    printError("sanreplay: building the event index of \(self.input.trace) (sanreplay index)")
                    try EventIndexer.build(path: self.input.trace)
                    return try self.runSQL(QueryEngine(path: self.input.trace), out)
                }
                try self.runSQL(engine, out)
            } catch let e as QueryError {
                out.flush()
                throw CommandFailure(message: e.description, exit: .usage)
            }
        }

        func runSQL(_ engine: QueryEngine, _ out: Output) throws {
            let bar = ProgressBar(total: engine.reader.eventCount, label: "indexing in memory")
            let writer = RowWriter(format: self.resultFormat) { out.line($0) }
            try engine.run(self.query, progress: bar.callback, columns: { names in
                bar.finish()
                writer.columns(names)
            }, row: { writer.row($0) })
            writer.finish()
            if engine.temporaryIndex && self.resultFormat == .table {
                out.line("(events indexed in memory for this query; `sanreplay index \(self.input.trace)` keeps an index in the file)")
            }
            out.flush()
        }
    }
}

extension ResultFormat: ExpressibleByArgument {}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first?.isWhitespace == true { s = s.dropFirst() }
        while s.last?.isWhitespace == true { s = s.dropLast() }
        return String(s)
    }
}
