import Foundation

/// A bandwidth limit for one process: bytes read from the source are paid for from a
/// token bucket refilled at `bytesPerSecond` (one second's worth of burst), so a consumer
/// on a shared link can be told to leave room for everything else. A read larger than the
/// bucket runs the bucket into debt, and the next reads wait it off.
actor ByteRate {
    let bytesPerSecond: Double
    private var available: Double
    private var last = Date()

    init(bytesPerSecond: Int) {
        self.bytesPerSecond = Double(max(1, bytesPerSecond))
        available = self.bytesPerSecond
    }

    /// Charges `bytes` just read, waiting while the bucket is in debt.
    func pay(_ bytes: Int) async throws {
        let now = Date()
        available = min(bytesPerSecond, available + now.timeIntervalSince(last) * bytesPerSecond)
        last = now
        available -= Double(bytes)
        if available < 0 {
            try await Task.sleep(nanoseconds: UInt64(-available / bytesPerSecond * 1_000_000_000))
        }
    }
}
