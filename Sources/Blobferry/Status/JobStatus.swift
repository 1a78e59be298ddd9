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
    public var producer: ProducerState
    public var pass: Int
    public var listed: Int
    public var skipped: Int
    public var queued: Int
    public var inflight: Int
    /// First copies: keys added to a done set (equals the done sets' sizes).
    public var copied: Int
    public var bytes: Int
    /// Done keys a delta pass found changed in Azure and copied again, apart from `copied`
    /// (a re-copy leaves the done sets as they were).
    public var recopied: Int = 0
    public var recopiedBytes: Int = 0
    /// Done keys the current pass found changed and queued for a re-copy.
    public var changed: Int = 0
    public var failed: Int
    public var vanished: Int
    /// Copied blobs the last completed pass did not list: deleted in Azure since they were
    /// copied, their objects still in S3 (`blobferry deleted` lists them).
    public var deletedInSource: Int = 0
    /// Objects `blobferry delete-removed --apply` deleted from S3 (their keys left the done
    /// sets: the done sets hold `copied` minus these).
    public var deletedFromS3: Int = 0
    /// Directory markers (`hdi_isfolder`) skipped, not copied.
    public var directoryMarkers: Int
    /// Keys skipped because S3 already held them (`overwrite: never`).
    public var skippedExisting: Int
    public var requeued: Int
    public var consumers: Int
    /// Objects per second over the copying so far.
    public var rate: Double
    /// Objects per second over the last minute (the `rate` ring in Redis).
    public var ratePerSecond1m: Double
    /// Seconds until what is queued and in flight is copied at `ratePerSecond1m`; nil while
    /// the producer is still listing (the total is not known yet) or nothing was copied in
    /// the last minute.
    public var etaSeconds: Double?
    public var complete: Bool
    /// `blobferry pause` is in force: consumers claim nothing, the producer lists nothing.
    public var paused: Bool = false
    /// Live limits set with `blobferry limits` (absent ones: the settings apply).
    public var limits: Limits = Limits()
    public var partitions: [Partition]

    /// The live limits as `status --json` shows them (null when not set).
    public struct Limits: Codable, Sendable, Equatable {
        public var concurrency: Int?
        public var sourceRequestsPerSecond: Double?
        public var destinationRequestsPerSecond: Double?
        public var bandwidth: Int?

        enum CodingKeys: String, CodingKey {
            case concurrency, bandwidth
            case sourceRequestsPerSecond = "source_requests_per_second"
            case destinationRequestsPerSecond = "destination_requests_per_second"
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(concurrency, forKey: .concurrency)
            try container.encode(sourceRequestsPerSecond, forKey: .sourceRequestsPerSecond)
            try container.encode(destinationRequestsPerSecond, forKey: .destinationRequestsPerSecond)
            try container.encode(bandwidth, forKey: .bandwidth)
        }
    }

    enum CodingKeys: String, CodingKey {
        case job, producer, pass, listed, skipped, queued, inflight, copied, bytes, failed, vanished, requeued
        case consumers, rate, complete, partitions, paused, limits
        case etaSeconds = "eta_seconds"
        case directoryMarkers = "directory_markers"
        case skippedExisting = "skipped_existing"
        case recopied, changed
        case recopiedBytes = "recopied_bytes"
        case deletedInSource = "deleted_in_source"
        case deletedFromS3 = "deleted_from_s3"
        case ratePerSecond1m = "rate_per_second_1m"
    }
}

extension JobStore {
    /// Reads everything `status` shows: totals and `complete` from the same atomic script
    /// the consumers decide with, per-partition rows in one pipelined round trip.
    public func status(job: String) async throws -> JobStatus {
        let keys = self.keys
        let metaHash = try await metaFields()
        let meta = JobMeta(fields: metaHash)
        let control = JobControl(meta: metaHash)
        let partitions = try PartitionScheme(parsing: meta.partitions).partitions
        let (progress, recentRate) = try await progressAndRate(partitions: partitions)
        return try await runIdempotent { connection in
            var commands: [[RedisArgument]] = [
                ["HGETALL", RedisArgument(keys.stats)],
                ["ZCARD", RedisArgument(keys.consumers)],
                ["HGETALL", RedisArgument(keys.listedCounts)],
                ["SMEMBERS", RedisArgument(keys.listedPartitions)],
            ]
            for partition in partitions {
                commands.append(["LLEN", RedisArgument(keys.queue(partition))])
                commands.append(["SCARD", RedisArgument(keys.done(partition))])
            }
            let replies = try connection.pipelineOrThrow(commands)
            let stats = try replies[0].decodeHash("HGETALL stats")
            let consumers = try replies[1].decodeInt("ZCARD consumers")
            let listedCounts = try replies[2].decodeHash("HGETALL listed-count")
            let listedSet = Set(try replies[3].decodeStrings("SMEMBERS listed"))
            let counts = try replies.dropFirst(4).map { try $0.decodeInt("LLEN/SCARD of a partition") }

            let rows = try partitions.enumerated().map { index, name in
                JobStatus.Partition(
                    name: name, queued: counts[2 * index], done: counts[2 * index + 1],
                    listed: try Self.counter(listedCounts, name), listingComplete: listedSet.contains(name))
            }
            let copied = try Self.counter(stats, "copied")
            let span = Double(try Self.counter(stats, "last_copy_ms") - Self.counter(stats, "first_copy_ms")) / 1000
            let recopied = try Self.counter(stats, "recopied")
            let rate = span > 0 ? Double(copied + recopied) / span : 0
            let pending = progress.queued + progress.inflight
            return JobStatus(
                job: job, producer: progress.producerState, pass: meta.pass, listed: try Self.counter(stats, "listed"),
                skipped: try Self.counter(stats, "skipped"), queued: progress.queued, inflight: progress.inflight,
                copied: copied, bytes: try Self.counter(stats, "bytes"), recopied: recopied,
                recopiedBytes: try Self.counter(stats, "recopied_bytes"), changed: try Self.counter(stats, "changed"),
                failed: progress.failed,
                vanished: try Self.counter(stats, "vanished"),
                deletedInSource: try Self.counter(stats, "deleted_in_source"),
                deletedFromS3: try Self.counter(stats, "deleted_from_s3"),
                directoryMarkers: try Self.counter(stats, "directory_markers"),
                skippedExisting: try Self.counter(stats, "skipped_existing"),
                requeued: try Self.counter(stats, "requeued"),
                consumers: consumers, rate: (rate * 10).rounded() / 10,
                ratePerSecond1m: (recentRate * 10).rounded() / 10,
                etaSeconds: progress.producerState != .listing && recentRate > 0 ? Double(pending) / recentRate : nil,
                complete: progress.isComplete, paused: control.paused,
                limits: JobStatus.Limits(
                    concurrency: control.concurrency, sourceRequestsPerSecond: control.sourceRequestsPerSecond,
                    destinationRequestsPerSecond: control.destinationRequestsPerSecond, bandwidth: control.bandwidth),
                partitions: rows)
        }
    }

    /// Up to `limit` failed keys with their reasons.
    public func failures(limit: Int) async throws -> [(key: String, reason: String)] {
        let key = keys.failed
        return try await runIdempotent { connection in
            let page = try Self.scanPage(
                connection.send("HSCAN", RedisArgument(key), "0", "COUNT", RedisArgument(limit)), "HSCAN failed")
            return page.pairs.prefix(limit).map { (key: $0.0, reason: $0.1) }
        }
    }

    /// One counter; absent reads as zero (nothing counted yet), anything but an integer throws.
    private static func counter(_ fields: [String: String], _ name: String) throws -> Int {
        guard let text = fields[name] else { return 0 }
        guard let value = Int(text) else {
            throw BlobferryError(.failed, "counter '\(name)' holds '\(text)', not an integer")
        }
        return value
    }
}
