/// The views `sanreplay query` creates in the connection's TEMP schema each time it opens a trace
/// (documented in Docs/TraceFormat.md §8.1; nothing is written to the trace). Those over `events`
/// exist only when the trace has the event index (or a temporary one was built).
public enum QueryViews {
    /// Views over the index tables every trace has. `function_names` is the trace's `functions`
    /// copied with an index on the name: a filter `function = 'WSPRdmaWrite'` on a view then
    /// lets SQLite start from that function and use `events_by_function` (without statistics it
    /// would otherwise scan every event).
    public static let base = """
        CREATE TEMP TABLE function_names (id INTEGER PRIMARY KEY, name TEXT NOT NULL, starts_op INTEGER NOT NULL);
        INSERT INTO function_names SELECT id, name, starts_op FROM functions;
        CREATE UNIQUE INDEX temp.function_names_by_name ON function_names (name);
        CREATE TEMP VIEW function_totals AS
            SELECT f.name AS function,
                CASE s.kind WHEN 1 THEN 'enter' WHEN 2 THEN 'leave' WHEN 3 THEN 'completion' WHEN 4 THEN 'upcall'
                    WHEN 5 THEN 'lookup' END AS kind,
                s.events, s.errors, s.bytes
            FROM function_summary s LEFT JOIN function_names f ON f.id = s.function;
        CREATE TEMP VIEW size_totals AS
            SELECT f.name AS function, s.size_class,
                CASE WHEN s.size_class = 0 THEN 0 ELSE 1 << (s.size_class - 1) END AS min_bytes,
                CASE WHEN s.size_class = 0 THEN 0 ELSE (1 << s.size_class) - 1 END AS max_bytes,
                s.calls, s.bytes
            FROM size_summary s LEFT JOIN function_names f ON f.id = s.function;
        CREATE TEMP VIEW registration_lifetimes AS
            SELECT r.kind, r.id, r.socket, r.length, r.access, r.registered_seq, r.deregistered_seq,
                r.deregistered_seq IS NULL AS leaked,
                CASE WHEN r.deregistered_tsc IS NULL THEN NULL
                    ELSE CAST((r.deregistered_tsc - r.registered_tsc) * 1e9
                        / (SELECT CAST(value AS REAL) FROM meta WHERE key = 'tsc_hz') AS INTEGER) END AS lifetime_ns
            FROM registrations r;
        CREATE TEMP VIEW socket_lifetimes AS
            SELECT id AS socket, created_by, listener, local, peer, created_seq, closed_seq,
                closed_seq IS NULL AS never_closed
            FROM sockets;
        """

    /// Views over `events` (one row per call, per completion, per-function latency).
    public static let overEvents = """
        CREATE TEMP VIEW calls AS
            SELECT l.start_seq AS seq, en.t_ns AS t_ns, l.t_ns AS end_ns, l.thread, f.name AS function,
                en.socket, en.ov, en.bytes AS size, l.ret, l.status, l.bytes, l.latency_ns,
                l.status = 997 AS pending, l.status NOT IN (0, 996, 997) AS failed, l.seq AS leave_seq
            FROM events l JOIN events en ON en.seq = l.start_seq JOIN function_names f ON f.id = l.function
            WHERE l.kind = 2;
        CREATE TEMP VIEW completions AS
            SELECT c.seq, c.t_ns, c.thread, f.name AS function, c.socket, c.ov, c.status, c.bytes, c.start_seq,
                c.latency_ns, c.status <> 0 AS failed
            FROM events c JOIN function_names f ON f.id = c.function
            WHERE c.kind = 3;
        CREATE TEMP VIEW function_latency AS
            SELECT f.name AS function,
                sum(l.kind = 2) AS calls, sum(l.kind = 2 AND l.status NOT IN (0, 996, 997)) AS errors,
                CAST(avg(CASE WHEN l.kind = 2 THEN l.latency_ns END) AS INTEGER) AS call_avg_ns,
                max(CASE WHEN l.kind = 2 THEN l.latency_ns END) AS call_max_ns,
                sum(l.kind = 3) AS completions, sum(l.kind = 3 AND l.status <> 0) AS failed_completions,
                CAST(avg(CASE WHEN l.kind = 3 THEN l.latency_ns END) AS INTEGER) AS op_avg_ns,
                max(CASE WHEN l.kind = 3 THEN l.latency_ns END) AS op_max_ns,
                sum(CASE WHEN l.kind = 3 AND l.status = 0 THEN l.bytes
                         WHEN l.kind = 2 AND l.status = 0 AND f.starts_op THEN l.bytes ELSE 0 END) AS bytes
            FROM events l LEFT JOIN function_names f ON f.id = l.function
            WHERE l.kind IN (2, 3)
            GROUP BY l.function;
        """

    /// `events_named` for a temporary event index (the persistent index brings its own).
    public static let eventsNamed = """
        CREATE TEMP VIEW events_named AS SELECT e.seq, e.t_ns, e.thread,
            CASE e.kind WHEN 1 THEN 'enter' WHEN 2 THEN 'leave' WHEN 3 THEN 'completion' WHEN 4 THEN 'upcall'
                WHEN 5 THEN 'lookup' END AS kind,
            f.name AS function, e.socket, e.ov, e.ret, e.status, e.bytes, e.start_seq, e.latency_ns
            FROM events e LEFT JOIN functions f ON f.id = e.function;
        """

    /// The names the views and tables above create.
    public static let names: Set<String> = ["function_names", "function_totals", "size_totals", "registration_lifetimes",
                                            "socket_lifetimes", "calls", "completions", "function_latency"]

    /// Names that need the event index: a query naming one of them on a trace without it gets the
    /// temporary index or the advice to run `sanreplay index`.
    public static let needingEvents: Set<String> = ["events", "events_named", "calls", "completions", "function_latency"]

    /// Every view and table a user may query, with one line each (for `--help` and errors).
    public static let catalog: [(String, String)] = [
        ("calls", "one row per call: seq, t_ns (enter), end_ns (leave; indexed with function), thread, function, socket, ov, size, ret, status, bytes, latency_ns, pending, failed, leave_seq (needs the event index)"),
        ("completions", "one row per completion: seq, t_ns, thread, function, socket, ov, status, bytes, start_seq, latency_ns, failed (needs the event index)"),
        ("function_latency", "per function: calls, errors, call_avg_ns, call_max_ns (enter → leave), completions, failed_completions, op_avg_ns, op_max_ns (start → completion), bytes (needs the event index)"),
        ("function_totals", "per function and event kind: events, errors, bytes"),
        ("size_totals", "per function and size class: min_bytes, max_bytes, calls, bytes"),
        ("registration_lifetimes", "kind, id, socket, length, access, registered_seq, deregistered_seq, leaked, lifetime_ns"),
        ("socket_lifetimes", "socket, created_by, listener, local, peer, created_seq, closed_seq, never_closed"),
        ("connections", "sockets with a peer address (a view of the trace)"),
        ("events, events_named", "one row per event (Docs/TraceFormat.md §8)"),
        ("function_names", "id, name, starts_op (the functions table, indexed by name)"),
        ("meta, argv, threads, sockets, registrations, descriptors, segments, function_summary, size_summary", "the trace's tables (§3)"),
    ]
}
