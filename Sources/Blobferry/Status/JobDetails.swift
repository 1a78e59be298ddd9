import BlobferryRedis
import Foundation

/// What `status --watch` shows besides the totals: each consumer run with the time since
/// its last heartbeat, and the most common reasons keys failed.
///
/// Why apart from `JobStatus`: `status --json` is a contract scripts parse, while these
/// lines are for a person watching (a heartbeat age is derived from the lease, and the
/// reasons come from a sample of the `failed` hash, not all of it).
public struct JobDetails: Sendable {
    /// A consumer run (`name#nonce`) and the seconds since its last heartbeat.
    public var consumers: [(run: String, heartbeatAgo: Double)]
    /// Failure reasons by how many sampled failed keys carry them, most common first.
    public var topFailures: [(reason: String, count: Int)]
    /// How many failed keys the reasons were counted over.
    public var sampled: Int

    /// Lines for a person: one per consumer, then up to five failure reasons.
    public func text() -> String {
        var lines: [String] = []
        if !consumers.isEmpty {
            lines.append("")
            lines.append("consumer                                  last heartbeat")
            for consumer in consumers {
                lines.append(
                    consumer.run.escapedForDisplay.padding(toLength: 42, withPad: " ", startingAt: 0)
                        + String(format: "%.1fs ago", max(0, consumer.heartbeatAgo)))
            }
        }
        if !topFailures.isEmpty {
            lines.append("")
            lines.append("top failure reasons (of \(sampled) failed keys sampled):")
            for failure in topFailures.prefix(5) {
                lines.append(String(format: "%8d  ", failure.count) + failure.reason.escapedForDisplay)
            }
        }
        return lines.joined(separator: "\n")
    }
}

extension JobStore {
    /// Consumers with their last heartbeat (lease expiry minus `leaseSeconds`, the consumers'
    /// `lease_seconds`, on the Redis server clock) and failure reasons counted over up to
    /// `sample` failed keys.
    public func details(leaseSeconds: Double, sample: Int = 1000) async throws -> JobDetails {
        let keys = self.keys
        return try await runIdempotent { connection in
            let replies = try connection.pipelineOrThrow([
                ["TIME"],
                ["ZRANGE", RedisArgument(keys.consumers), "0", "-1", "WITHSCORES"],
                ["HSCAN", RedisArgument(keys.failed), "0", "COUNT", RedisArgument(sample)],
            ])
            let time = try replies[0].decodeStrings("TIME")
            guard time.count == 2, let seconds = Double(time[0]), let micros = Double(time[1]) else {
                throw BlobferryError(.failed, "unexpected reply to TIME")
            }
            let nowMs = seconds * 1000 + micros / 1000
            let consumers = try replies[1].decodePairs("ZRANGE consumers").map { run, score in
                guard let expiry = Double(score) else {
                    throw BlobferryError(.failed, "consumer lease '\(score)' is not a number")
                }
                return (run: run, heartbeatAgo: (nowMs - (expiry - leaseSeconds * 1000)) / 1000)
            }
            let failed = try Self.scanPage(replies[2], "HSCAN failed").pairs.prefix(sample)
            var counts: [String: Int] = [:]
            for (_, reason) in failed { counts[reason, default: 0] += 1 }
            let top = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
                .map { (reason: $0.key, count: $0.value) }
            return JobDetails(consumers: consumers, topFailures: top, sampled: failed.count)
        }
    }
}
