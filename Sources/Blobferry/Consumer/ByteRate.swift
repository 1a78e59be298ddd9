import Foundation

/// A bandwidth limit for one process: bytes read from the source are paid for from a
/// token bucket refilled at `bytesPerSecond` (one second's worth of burst), so a consumer
/// on a shared link can be told to leave room for everything else. A read larger than the
/// bucket runs the bucket into debt, and the next reads wait it off. A live limit
/// (`blobferry limits --bandwidth`, read from `control`) overrides the setting while set;
/// with neither (0), reads are not paced.
actor ByteRate {
    private let configured: Int
    private let control: LiveControl?
    private var available: Double
    private var last = Date()

    init(bytesPerSecond: Int, control: LiveControl? = nil) {
        configured = bytesPerSecond
        self.control = control
        available = Double(max(1, bytesPerSecond))
    }

    /// The rate in force now (0 = no limit).
    var bytesPerSecond: Double { Double(control?.current.bandwidth ?? configured) }

    /// Charges `bytes` just read, waiting while the bucket is in debt.
    func pay(_ bytes: Int) async throws {
        let bytesPerSecond = self.bytesPerSecond
        guard bytesPerSecond > 0 else {
            last = Date()
            return
        }
        let now = Date()
        available = min(bytesPerSecond, available + now.timeIntervalSince(last) * bytesPerSecond)
        last = now
        available -= Double(bytes)
        if available < 0 {
            try await Task.sleep(nanoseconds: UInt64(-available / bytesPerSecond * 1_000_000_000))
        }
    }
}
