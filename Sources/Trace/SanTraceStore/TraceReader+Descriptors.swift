import SanTraceFormat

extension TraceReader {
    /// The `descriptors` table: RDMA descriptor capture id → the descriptor bytes (those this
    /// process registered, and those it received from a peer and used as an RDMA target). The
    /// replayer pairs descriptors across the traces of a set by these bytes. Rows whose bytes are
    /// NULL or empty are left out.
    public func descriptorBytes() throws(TraceFormatError) -> [UInt64: [UInt8]] {
        do {
            guard try self.db.hasTable("descriptors") else { return [:] }
            let s = try self.db.prepare("SELECT id, bytes FROM descriptors")
            var out: [UInt64: [UInt8]] = [:]
            while try s.step() {
                guard !s.isNull(1) else { continue }
                let b = s.blob(1)
                if !b.isEmpty, b.count <= TraceFormat.maxBytesField { out[UInt64(bitPattern: s.int(0))] = b }
            }
            return out
        } catch {
            // Every throwing call above throws SQLiteError (typed throws).
            throw TraceFile.map(error, self.path)
        }
    }
}
