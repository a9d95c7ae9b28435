import CSanABI
import SanSwitch

/// One test's two ends. The runner drives them in this order:
///
///     client: prepareClient → [hello →]            runClient → free
///     server:              [→ hello] prepareServer [reply →] runServer → free
///
/// `prepareServer` runs before the server's reply is sent, so receives it posts there are in
/// place before the client can send anything after the reply.
protocol PerfWorkload: AnyObject {
    /// Client resources; returns the client's RDMA descriptor for the hello (or none).
    func prepareClient(_ e: PerfEndpoint) throws(PerfError) -> [UInt8]
    /// Server resources; returns the server's RDMA descriptor for the reply (or none).
    func prepareServer(_ e: PerfEndpoint, clientDescriptor: [UInt8]) throws(PerfError) -> [UInt8]
    /// The measured phase on the client.
    func runClient(_ e: PerfEndpoint, serverDescriptor: [UInt8]) throws(PerfError) -> PerfMeasurement
    /// The server's part of the measured phase.
    func runServer(_ e: PerfEndpoint) throws(PerfError) -> PerfMeasurement
    /// Reg_churn only: per-call figures.
    var churn: [ChurnMeasurement] { get }
    /// Deregisters and frees; called after the socket closed for memory, before for registrations.
    func release(_ e: PerfEndpoint)
}

extension PerfWorkload {
    var churn: [ChurnMeasurement] { [] }
}

/// The workload object for a test.
func makeWorkload(_ test: PerfTest, _ config: PerfConfig) -> any PerfWorkload {
    switch test {
    case .writeBandwidth, .readBandwidth: return RdmaBandwidthWorkload(config)
    case .readLatency: return RdmaReadLatencyWorkload(config)
    case .writeLatency: return RdmaWriteLatencyWorkload(config)
    case .sendBandwidth: return SendBandwidthWorkload(config)
    case .sendLatency: return SendLatencyWorkload(config)
    case .registrationChurn: return RegistrationChurnWorkload(config)
    }
}

/// The passive end of tests where the server's application does nothing during the measured
/// phase (one-sided RDMA, registration churn): wait for `done`, answer `ack`. The control receive
/// for `done` was posted in `prepareServer`.
func serveUntilDone(_ e: PerfEndpoint, bytes: UInt64, operations: UInt64) throws(PerfError) -> PerfMeasurement {
    let start = perfNow()
    _ = try e.control.receive(.done)
    try e.control.send(SetupMessage(kind: .ack))
    return PerfMeasurement(bytes: bytes, operations: operations, seconds: Double(perfNow() - start) / 1e9, latency: nil)
}

/// The client's closing handshake: `done`, then wait for `ack` (the receive for it is posted
/// first, so the ack never has to be buffered).
func finishWithServer(_ e: PerfEndpoint) throws(PerfError) {
    try e.control.postReceive()
    try e.control.send(SetupMessage(kind: .done))
    _ = try e.control.receive(.ack)
}

/// A descriptor's bytes in memory the workload owns for the run (WSPRdmaWrite / WSPRdmaRead take
/// a pointer to them on every call).
final class DescriptorBlock {
    let bytes: UnsafeMutableRawBufferPointer
    init(_ d: [UInt8]) {
        self.bytes = .allocate(byteCount: max(d.count, 1), alignment: 16)
        self.bytes.copyBytes(from: d)
    }
    var count: Int { self.bytes.count }
    deinit { self.bytes.deallocate() }
}

/// One WSABUFEX / WSABUF in memory the workload owns.
final class BufferArray {
    let ex: UnsafeMutablePointer<WSABUFEX>
    let plain: UnsafeMutablePointer<WSABUF>
    let count: Int
    init(_ buffers: [SanBuffer]) {
        self.count = buffers.count
        self.ex = .allocate(capacity: max(1, buffers.count))
        self.plain = .allocate(capacity: max(1, buffers.count))
        for (i, b) in buffers.enumerated() {
            (self.ex + i).initialize(to: b.wsabufex)
            (self.plain + i).initialize(to: b.wsabuf)
        }
    }
    deinit {
        self.ex.deallocate()
        self.plain.deallocate()
    }
}
