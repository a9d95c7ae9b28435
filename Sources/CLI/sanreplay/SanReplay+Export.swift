import ArgumentParser
import JSONText
import SanReport
import SanTraceFormat
import SanTraceStore

extension SanReplay {
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a trace (or a trace set) for other tools: Chrome trace JSON, JSON Lines, CSV.",
            discussion: """
                FORMATS
                  chrome   Chrome trace-event JSON for the Perfetto UI (ui.perfetto.dev,
                           "Open trace file") and chrome://tracing: a process per trace, a
                           track per thread, a slice per call, a flow arrow from each call
                           to its completion, upcalls and look-ups as instants
                  jsonl    one JSON object per event
                  csv      one row per event, with a header line
                jsonl keys and csv columns, in order (the event index's columns with names;
                null or empty when an event has no such field; kept stable):
                  pid seq t_ns kind function thread thread_seq socket ov ret status
                  error bytes start_seq latency_ns
                Docs/Analysis.md §3 describes each.

                EXAMPLES
                  sanreplay export run/client.santrace --format chrome -o client.json
                  sanreplay export run/ --format chrome -o run.json    # every process
                  sanreplay export run/client.santrace --format csv -o - | head
                """)

        @OptionGroup var input: TraceSetInputOptions
        @Option(help: "chrome, jsonl or csv.")
        var format: ExportFormat
        @Option(name: .shortAndLong, help: ArgumentHelp("The file to write (- for standard output).", valueName: "FILE"))
        var output: String
        @Flag(name: .long, help: "Print what was written as JSON ({\"output\", \"format\", \"events\", \"traces\"}) on standard error.")
        var json = false

        func run() throws {
            let paths = try TraceSet.paths(self.input.trace)
            var total: UInt64 = 0
            for p in paths { total += try TraceReader(path: p).eventCount }
            let bar = ProgressBar(total: total, label: "export")
            let file = try OutputFile(path: self.output)
            let n = try Exporter.export(paths, format: self.format, to: file, progress: bar.callback)
            bar.finish()
            if self.json {
                var o = JSONObject()
                o.add("output", self.output)
                o.add("format", self.format.rawValue)
                o.add("events", n)
                o.add("traces", raw: jsonArray(paths.map(jsonString)))
                printError(o.text)
            } else if self.output != "-" {
                printError("sanreplay: wrote \(formatCount(n)) events to \(self.output)")
            }
        }
    }
}

extension ExportFormat: ExpressibleByArgument {}
