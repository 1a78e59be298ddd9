import Foundation
import Logging

/// Exponential backoff with full jitter for transient Azure and S3 errors (connection
/// failures, timeouts, 5xx, ServerBusy/SlowDown), honouring `Retry-After`.
public struct RetryPolicy: Sendable {
    public var maxAttempts: Int
    public var baseDelay: Double
    public var maxDelay: Double

    public init(maxAttempts: Int, baseDelay: Double = 0.2, maxDelay: Double = 20) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// Start-up checks: ride out a busy service for a few seconds, then report it.
    public static let startup = RetryPolicy(maxAttempts: 6, baseDelay: 0.5, maxDelay: 5)

    /// The pause before attempt `attempt + 1` (attempt counts from 1).
    public func delay(after attempt: Int, retryAfter: Double?) -> Double {
        let ceiling = min(maxDelay, baseDelay * pow(2, Double(attempt - 1)))
        let jittered = Double.random(in: 0...ceiling)
        return max(jittered, min(retryAfter ?? 0, maxDelay * 3))
    }

    /// Runs `operation`, retrying transient `RemoteError`s; other errors and the last
    /// transient one are thrown.
    public func run<T: Sendable>(
        logger: Logger, what: String, _ operation: @Sendable () async throws -> T
    ) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await operation()
            } catch let error as RemoteError where error.kind == .transient && attempt < maxAttempts {
                let pause = delay(after: attempt, retryAfter: error.retryAfter)
                Metrics.process.add("blobferry_retries_total", [("service", error.service.metricLabel)])
                logger.debug("\(what): \(error); retry \(attempt) in \(String(format: "%.2f", pause)) s")
                try await Task.sleep(nanoseconds: UInt64(pause * 1_000_000_000))
                attempt += 1
            }
        }
    }
}
