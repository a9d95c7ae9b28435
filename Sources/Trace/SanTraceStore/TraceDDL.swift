import SanTraceFormat

/// The SQLite schema of a `.santrace` file, verbatim in Docs/TraceFormat.md §SQLite schema
/// (a test checks that the document and this text agree).
public enum TraceDDL {
    /// `PRAGMA user_version`: major × 10000 + minor.
    public static var userVersion: Int32 { Int32(TraceFormat.version.major) * 10000 + Int32(TraceFormat.version.minor) }

    /// Tables created with every trace.
    public static let create = """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
        CREATE TABLE argv (position INTEGER PRIMARY KEY, arg TEXT NOT NULL);
        CREATE TABLE functions (id INTEGER PRIMARY KEY, name TEXT NOT NULL, grp TEXT NOT NULL,
            starts_op INTEGER NOT NULL);
        CREATE TABLE fields (function INTEGER NOT NULL, kind INTEGER NOT NULL, position INTEGER NOT NULL,
            name TEXT NOT NULL, type TEXT NOT NULL, flag_table TEXT,
            PRIMARY KEY (function, kind, position)) WITHOUT ROWID;
        CREATE TABLE segments (id INTEGER PRIMARY KEY, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,
            events INTEGER NOT NULL, first_tsc INTEGER NOT NULL, last_tsc INTEGER NOT NULL,
            raw_bytes INTEGER NOT NULL, blob_bytes INTEGER NOT NULL, errors INTEGER NOT NULL,
            bytes INTEGER NOT NULL, crc32c INTEGER NOT NULL, blob BLOB NOT NULL);
        CREATE TABLE segment_functions (function INTEGER NOT NULL, segment INTEGER NOT NULL, kind INTEGER NOT NULL,
            events INTEGER NOT NULL, errors INTEGER NOT NULL, bytes INTEGER NOT NULL,
            PRIMARY KEY (function, segment, kind)) WITHOUT ROWID;
        CREATE TABLE segment_sockets (socket INTEGER NOT NULL, segment INTEGER NOT NULL, events INTEGER NOT NULL,
            PRIMARY KEY (socket, segment)) WITHOUT ROWID;
        CREATE TABLE segment_threads (thread INTEGER NOT NULL, segment INTEGER NOT NULL,
            first_thread_seq INTEGER NOT NULL, last_thread_seq INTEGER NOT NULL, events INTEGER NOT NULL,
            PRIMARY KEY (thread, segment)) WITHOUT ROWID;
        CREATE TABLE threads (id INTEGER PRIMARY KEY, os_tid INTEGER, name TEXT, first_seq INTEGER,
            last_seq INTEGER, events INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE sockets (id INTEGER PRIMARY KEY, created_seq INTEGER, created_by TEXT, af INTEGER,
            type INTEGER, protocol INTEGER, listener INTEGER, local_addr BLOB, peer_addr BLOB, local TEXT,
            peer TEXT, closed_seq INTEGER);
        CREATE VIEW connections AS SELECT id AS socket, created_by, listener, local, peer, local_addr, peer_addr,
            created_seq, closed_seq FROM sockets WHERE peer_addr IS NOT NULL;
        CREATE TABLE registrations (kind TEXT NOT NULL, id INTEGER NOT NULL, socket INTEGER,
            address_registration INTEGER, address_offset INTEGER, length INTEGER, access INTEGER,
            registered_seq INTEGER, registered_tsc INTEGER, deregistered_seq INTEGER, deregistered_tsc INTEGER,
            PRIMARY KEY (kind, id)) WITHOUT ROWID;
        CREATE TABLE descriptors (id INTEGER PRIMARY KEY, socket INTEGER, registered_seq INTEGER, bytes BLOB);
        CREATE TABLE function_summary (function INTEGER NOT NULL, kind INTEGER NOT NULL, events INTEGER NOT NULL,
            errors INTEGER NOT NULL, bytes INTEGER NOT NULL, PRIMARY KEY (function, kind)) WITHOUT ROWID;
        CREATE TABLE size_summary (function INTEGER NOT NULL, size_class INTEGER NOT NULL, calls INTEGER NOT NULL,
            bytes INTEGER NOT NULL, PRIMARY KEY (function, size_class)) WITHOUT ROWID;
        """

    /// The event index table, created by `sanreplay index` (or at close for small traces)…
    public static let eventsTable = """
        CREATE TABLE events (seq INTEGER PRIMARY KEY, segment INTEGER NOT NULL, kind INTEGER NOT NULL,
            function INTEGER, thread INTEGER NOT NULL, thread_seq INTEGER NOT NULL, tsc INTEGER NOT NULL,
            t_ns INTEGER NOT NULL, socket INTEGER, ov INTEGER, ret INTEGER, status INTEGER, bytes INTEGER,
            start_seq INTEGER, latency_ns INTEGER);
        """

    /// …and its indexes and view, created after its rows are in.
    public static let eventsIndexes = """
        CREATE INDEX events_by_socket ON events (socket, function, t_ns);
        CREATE INDEX events_by_function ON events (function, t_ns);
        CREATE VIEW events_named AS SELECT e.seq, e.t_ns, e.thread,
            CASE e.kind WHEN 1 THEN 'enter' WHEN 2 THEN 'leave' WHEN 3 THEN 'completion' WHEN 4 THEN 'upcall'
                WHEN 5 THEN 'lookup' END AS kind,
            f.name AS function, e.socket, e.ov, e.ret, e.status, e.bytes, e.start_seq, e.latency_ns
            FROM events e LEFT JOIN functions f ON f.id = e.function;
        """

    /// Drops the event index.
    public static let dropEvents = """
        DROP VIEW IF EXISTS events_named;
        DROP TABLE IF EXISTS events;
        """
}
