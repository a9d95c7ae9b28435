/// SanReport: read-only SQL over a trace's index (`sanreplay query`), canned reports, exports
/// (Chrome trace-event JSON, JSON Lines, CSV) and the self-contained HTML report.
public enum SanReport {}
