import Foundation
import Logging

/// Exponential backoff with full jitter for transient Azure and S3 errors (connection
/// failures, timeouts, 5xx), honouring `Retry-After`.
///
/// Throttling (`RemoteError.isThrottling`) is different: a service asking to slow down is
/// not a fault of the key, so it is retried with backoff for as long as it lasts, never
/// uses up an attempt, and calls `onThrottle` so the caller can send less.
public struct RetryPolicy: Sendable {
    public var maxAttempts: Int
    public var baseDelay: Double
    public var maxDelay: Double
    /// Told about each throttling answer (adaptive concurrency listens here).
    public var onThrottle: (@Sendable () -> Void)?

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
        var throttles = 0
        while true {
            do {
                return try await operation()
            } catch let error as RemoteError where error.kind == .transient && error.isThrottling {
                throttles += 1
                onThrottle?()
                let pause = delay(after: min(throttles, 16), retryAfter: error.retryAfter)
                logger.debug(
                    "\(what): \(error); throttled (\(throttles) in a row), retry in \(String(format: "%.2f", pause)) s")
                try await Task.sleep(nanoseconds: UInt64(pause * 1_000_000_000))
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
