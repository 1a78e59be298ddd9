import BlobferryRedis
import Foundation

/// A snapshot of a job for `blobferry status`: the JSON form is a contract scripts rely
/// on (field names as in DESIGN.md), the text form is for people.
public struct JobStatus: Codable, Sendable, Equatable {
    /// One partition's queue, done set and listing state.
    public struct Partition: Codable, Sendable, Equatable {
        public var name: String
        public var queued: Int
        public var done: Int
        /// Keys listed in this partition in the current pass.
        public var listed: Int
        /// Whether the current pass has listed this partition to the end.
        public var listingComplete: Bool

        enum CodingKeys: String, CodingKey {
            case name, queued, done, listed
            case listingComplete = "listing_complete"
        }
    }

    public var job: String
    /// "not started", "listing" or "listed".
    public var producer: String
    public var pass: Int
    public var listed: Int
    public var skipped: Int
    public var queued: Int
    public var inflight: Int
    public var copied: Int
    public var bytes: Int
    public var failed: Int
    public var vanished: Int
    public var requeued: Int
    public var consumers: Int
    /// Objects per second over the copying so far.
    public var rate: Double
    /// Seconds until the queue drains at `rate` (nil while unknown).
    public var etaSeconds: Double?
    public var complete: Bool
    public var partitions: [Partition]

    enum CodingKeys: String, CodingKey {
        case job, producer, pass, listed, skipped, queued, inflight, copied, bytes, failed, vanished, requeued
        case consumers, rate, complete, partitions
        case etaSeconds = "eta_seconds"
    }
}

extension JobStore {
    /// Reads everything `status` shows in two pipelined round trips.
    public func status(job: String) async throws -> JobStatus {
        let keys = self.keys
        return try await runIdempotent { connection in
            let head = try connection.pipelineOrThrow([
                ["HGETALL", RedisArgument(keys.meta)],
                ["HGETALL", RedisArgument(keys.stats)],
                ["HLEN", RedisArgument(keys.failed)],
                ["ZRANGE", RedisArgument(keys.consumers), "0", "-1"],
                ["HGETALL", RedisArgument(keys.listedCounts)],
                ["SMEMBERS", RedisArgument(keys.listedPartitions)],
            ])
            let meta = JobMeta(fields: Self.hash(head[0]))
            let stats = Self.hash(head[1]).mapValues { Int($0) ?? 0 }
            let consumers = (head[3].array ?? []).compactMap(\.string)
            let listedCounts = Self.hash(head[4]).mapValues { Int($0) ?? 0 }
            let listedSet = Set((head[5].array ?? []).compactMap(\.string))
            let partitions = (try? PartitionScheme(parsing: meta.partitions).partitions) ?? []

            var commands: [[RedisArgument]] = []
            for partition in partitions {
                commands.append(["LLEN", RedisArgument(keys.queue(partition))])
                commands.append(["SCARD", RedisArgument(keys.done(partition))])
            }
            for consumer in consumers { commands.append(["HLEN", RedisArgument(keys.inflight(consumer))]) }
            let counts = try connection.pipelineOrThrow(commands).map { $0.int ?? 0 }

            var rows: [JobStatus.Partition] = []
            for (index, name) in partitions.enumerated() {
                rows.append(
                    JobStatus.Partition(
                        name: name, queued: counts[2 * index], done: counts[2 * index + 1],
                        listed: listedCounts[name] ?? 0, listingComplete: listedSet.contains(name)))
            }
            let queued = rows.reduce(0) { $0 + $1.queued }
            let inflight = counts.suffix(consumers.count).reduce(0, +)
            let copied = stats["copied"] ?? 0
            let span = Double((stats["last_copy_ms"] ?? 0) - (stats["first_copy_ms"] ?? 0)) / 1000
            let rate = span > 0 ? Double(copied) / span : 0
            let progress = JobProgress(producerState: meta.producerState, queued: queued, inflight: inflight)
            return JobStatus(
                job: job, producer: meta.producerState, pass: meta.pass, listed: stats["listed"] ?? 0,
                skipped: stats["skipped"] ?? 0, queued: queued, inflight: inflight, copied: copied,
                bytes: stats["bytes"] ?? 0, failed: head[2].int ?? 0, vanished: stats["vanished"] ?? 0,
                requeued: stats["requeued"] ?? 0, consumers: consumers.count, rate: (rate * 10).rounded() / 10,
                etaSeconds: rate > 0 ? Double(queued + inflight) / rate : nil, complete: progress.isComplete,
                partitions: rows)
        }
    }

    /// Up to `limit` failed keys with their reasons.
    public func failures(limit: Int) async throws -> [(key: String, reason: String)] {
        let key = keys.failed
        return try await runIdempotent { connection in
            let reply = try connection.send("HSCAN", RedisArgument(key), "0", "COUNT", RedisArgument(limit))
            let items = reply.array?.last?.array ?? []
            return stride(from: 0, to: items.count - 1, by: 2).prefix(limit).map {
                (items[$0].string ?? "", items[$0 + 1].string ?? "")
            }
        }
    }

    static func hash(_ reply: RedisReply) -> [String: String] {
        let items = reply.array ?? []
        var fields: [String: String] = [:]
        var index = 0
        while index + 1 < items.count {
            fields[items[index].string ?? ""] = items[index + 1].string ?? ""
            index += 2
        }
        return fields
    }
}
