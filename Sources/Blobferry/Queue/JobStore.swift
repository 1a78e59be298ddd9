import BlobferryRedis
import Dispatch
import Foundation
import Logging

/// The job's shared state in Redis, behind one connection confined to its own serial
/// queue: hiredis calls block, and running them there keeps Swift's cooperative threads
/// free for copies while Redis is slow or away.
///
/// While Redis is unreachable a call waits and retries (the connection's reconnect
/// window is the job's `redis_outage_seconds`); after that it throws
/// `BlobferryError(.unreachable)` and the process exits non-zero with its work intact
/// in Redis.
///
/// `@unchecked Sendable`: the one mutable part, the hiredis connection, is only touched
/// inside blocks run on `queue` (a serial queue); everything else is immutable.
public final class JobStore: @unchecked Sendable {
    public let keys: JobKeys
    private let queue = DispatchQueue(label: "blobferry.redis")
    /// Touched only on `queue`.
    private let connection: RedisConnection
    private let redactedURL: String

    /// Connects, waiting up to `redis_outage_seconds` for a Redis that is down or not ready;
    /// a rejected password fails at once.
    public init(settings: Settings, logger: Logger) throws {
        var configuration: RedisConfiguration
        do {
            configuration = try RedisConfiguration(url: settings.redisURL.exposedValue)
        } catch {
            throw BlobferryError(.configuration, "redis url (BLOBFERRY_REDIS_URL) is invalid: \(error)")
        }
        configuration.reconnectWindow = settings.redisOutageSeconds
        redactedURL = configuration.redactedURL
        keys = JobKeys(job: settings.job)
        let url = redactedURL
        let onReconnectAttempt: (Int, RedisError) -> Void = { attempt, error in
            if attempt == 1 || attempt % 10 == 0 {
                logger.warning("Redis at \(url) unreachable (attempt \(attempt)): \(error.message); retrying")
            }
        }
        do {
            // Start-up rides out an unreachable or not-ready Redis like a running process
            // does (VMs booting before Redis, a restart, a failover); a refused password
            // still fails at once.
            connection = try RedisConnection(
                configuration: configuration, waitForServer: true, onReconnectAttempt: onReconnectAttempt)
        } catch let error as RedisError {
            throw Self.translate(error, url: configuration.redactedURL)
        }
    }

    /// Runs `body` with the connection on the Redis queue; Redis errors become
    /// `BlobferryError`s a person can act on.
    public func run<T: Sendable>(_ body: @escaping @Sendable (RedisConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                let started = ContinuousClock.now
                do {
                    let result = try body(self.connection)
                    Metrics.process.redisCall(succeeded: true, seconds: started.secondsSince)
                    continuation.resume(returning: result)
                } catch let error as RedisError {
                    Metrics.process.redisCall(succeeded: false, seconds: started.secondsSince)
                    continuation.resume(throwing: Self.translate(error, url: self.redactedURL))
                } catch {
                    Metrics.process.redisCall(succeeded: false, seconds: started.secondsSince)
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    /// Like `run`, but retries while the connection broke mid-call, for operations that are
    /// safe to repeat (reads, and scripts written to count nothing twice).
    public func runIdempotent<T: Sendable>(_ body: @escaping @Sendable (RedisConnection) throws -> T) async throws -> T
    {
        while true {
            do {
                return try await run(body)
            } catch let error as BlobferryError where error.isRedisInterruption {
                continue
            }
        }
    }

    /// How many times the connection was re-established; a change means replies may have
    /// been lost, and consumers reconcile their claims.
    public func reconnectCount() async throws -> Int {
        try await run { $0.reconnectCount }
    }

    static func translate(_ error: RedisError, url: String) -> BlobferryError {
        switch error.code {
        case .authenticationFailed:
            return BlobferryError(
                .credentials, "Redis at \(url) rejected the credentials: \(error.message)", underlying: error)
        case .connectionFailed:
            return BlobferryError(.unreachable, "Redis at \(url) is unreachable: \(error.message)", underlying: error)
        case .connectionLost, .timeout:
            return BlobferryError(.unreachable, "Redis at \(url): \(error.message)", underlying: error)
        case .serverError where error.message.contains("NOPERM"):
            return BlobferryError(
                .credentials, "Redis at \(url) refused the command (check the user's ACL): \(error.message)",
                underlying: error)
        case .invalidURL:
            return BlobferryError(.configuration, "redis url is invalid: \(error.message)", underlying: error)
        default:
            return BlobferryError(.failed, "Redis at \(url): \(error.message)", underlying: error)
        }
    }
}

extension RedisConnection {
    /// A pipeline whose error replies throw (the first one), for callers that cannot
    /// make sense of a partial answer: a NOPERM or WRONGTYPE must not read as "empty".
    func pipelineOrThrow(_ commands: [[RedisArgument]]) throws -> [RedisReply] {
        let replies = try pipeline(commands)
        for reply in replies {
            if case .error(let message) = reply { throw RedisError(.serverError, message) }
        }
        return replies
    }
}

extension BlobferryError {
    /// The enqueue script refused: this producer does not hold the producer lease.
    var isLeaseLost: Bool { (underlying as? RedisError)?.message.hasPrefix("LEASELOST") == true }

    /// A Redis call that broke mid-flight (the next call reconnects).
    var isRedisInterruption: Bool {
        guard let redis = underlying as? RedisError else { return false }
        return redis.code == .connectionLost || redis.code == .timeout
    }
}
