import BlobferryRedis
import Foundation

/// What one listed page holds, in the terms that decide a copy's requests: the producer
/// sums it per page and the enqueue script adds it to `listed-size`.
public struct PageSizes: Sendable, Equatable {
    /// Blob bytes.
    public var bytes = 0
    /// Key bytes (UTF-8): what the done sets will hold.
    public var nameBytes = 0
    /// Blobs read in two GETs: empty ones (the ranged first read answers 416) and those
    /// larger than a consumer's first read but not above the multipart threshold.
    public var medium = 0
    /// Blobs above the multipart threshold.
    public var large = 0
    /// The parts of those (one ranged GET and one part upload each).
    public var parts = 0

    public init() {}

    /// Counts one blob as a consumer following `plan` would copy it.
    public mutating func add(name: String, size: Int, plan: ReadPlan) {
        bytes += size
        nameBytes += name.utf8.count
        if size > plan.multipartThreshold {
            large += 1
            let part = MultipartPlan.partSize(for: size, preferred: plan.partSize)
            parts += (size + part - 1) / part
        } else if size == 0 || size > plan.firstReadSize {
            medium += 1
        }
    }
}

/// How a consumer reads and writes a blob of a given size (`BlobCopier`): one ranged GET
/// of `firstReadSize` bytes first; a larger blob up to the threshold takes a second GET
/// and one PUT; above the threshold, one ranged GET per part and a multipart upload.
public struct ReadPlan: Sendable, Equatable {
    public var firstReadSize: Int
    public var multipartThreshold: Int
    public var partSize: Int

    public init(consumer: ConsumerSettings) {
        firstReadSize =
            MemoryBudget(
                totalBytes: consumer.memoryBudget, concurrency: consumer.concurrency, partSize: consumer.partSize
            ).firstReadSize
        multipartThreshold = consumer.multipartThreshold
        partSize = consumer.partSize
    }
}

/// `blobferry estimate`: the requests, transfer, Redis memory, cost and time a migration
/// needs, from what the producer listed so far (all of it once the listing is complete).
public struct MigrationEstimate: Codable, Sendable, Equatable {
    public var job: String
    /// False while the producer is still listing: every number covers what is listed so far.
    public var listingComplete: Bool
    public var keys: Int
    public var bytes: Int
    public var azureListOperations: Int
    public var azureReadOperations: Int
    public var egressGB: Double
    /// Single-request uploads (blobs up to the multipart threshold).
    public var s3Puts: Int
    public var s3MultipartUploads: Int
    public var s3Parts: Int
    /// Every S3 write request: PUTs, and per multipart blob its initiate, parts and complete.
    public var s3Requests: Int
    /// The done sets' size once every listed key is done: key bytes plus
    /// `redisBytesPerMember` per key (measured, see the README's "Sizing Redis").
    public var redisDoneBytes: Int
    public var redisBytesPerMember: Int
    public var costAzureList: Double
    public var costAzureRead: Double
    public var costEgress: Double
    public var costS3: Double
    public var costTotal: Double
    /// Objects per second over the last minute (the copy-rate ring `status` reads).
    public var ratePerSecond1m: Double
    /// Seconds to copy every listed key at that rate (nil: nothing copied in the last minute).
    public var secondsAllAtRate: Double?
    /// Seconds to copy what is queued and in flight at that rate.
    public var secondsRemainingAtRate: Double?

    /// Bytes a done-set member costs beyond its key (Redis 7, hashtable SET; README table).
    public static let doneSetOverhead = 52

    enum CodingKeys: String, CodingKey {
        case job, keys, bytes
        case listingComplete = "listing_complete"
        case azureListOperations = "azure_list_operations"
        case azureReadOperations = "azure_read_operations"
        case egressGB = "egress_gb"
        case s3Puts = "s3_puts"
        case s3MultipartUploads = "s3_multipart_uploads"
        case s3Parts = "s3_parts"
        case s3Requests = "s3_requests"
        case redisDoneBytes = "redis_done_bytes"
        case redisBytesPerMember = "redis_bytes_per_member_overhead"
        case costAzureList = "cost_azure_list_usd"
        case costAzureRead = "cost_azure_read_usd"
        case costEgress = "cost_egress_usd"
        case costS3 = "cost_s3_usd"
        case costTotal = "cost_total_usd"
        case ratePerSecond1m = "rate_per_second_1m"
        case secondsAllAtRate = "seconds_all_at_rate"
        case secondsRemainingAtRate = "seconds_remaining_at_rate"
    }

    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    public func text() -> String {
        func money(_ value: Double) -> String { String(format: value < 1 ? "$%.4f" : "$%.2f", value) }
        func time(_ seconds: Double?) -> String {
            seconds.map { JobStatus.humanDuration($0) } ?? "- (no copies in the last minute)"
        }
        return [
            "job \(job): \(listingComplete ? "listing complete" : "LISTING IN PROGRESS: numbers cover what is listed so far")",
            "keys \(keys), \(JobStatus.humanBytes(bytes)) (\(bytes) bytes)",
            "Azure: \(azureListOperations) list operations (\(money(costAzureList))), \(azureReadOperations) read operations (\(money(costAzureRead))), egress \(String(format: "%.3f", egressGB)) GB (\(money(costEgress)))",
            "S3: \(s3Requests) requests (\(s3Puts) PUTs, \(s3MultipartUploads) multipart uploads with \(s3Parts) parts) (\(money(costS3)))",
            "Redis: done sets about \(JobStatus.humanBytes(redisDoneBytes)) (key bytes + \(redisBytesPerMember) per key)",
            "cost: \(money(costTotal)) in requests and egress (S3 storage not included)",
            "time at \(String(format: "%.1f", ratePerSecond1m)) objects/s (last minute): all \(time(secondsAllAtRate)), remaining \(time(secondsRemainingAtRate))",
        ].joined(separator: "\n")
    }
}

/// What `listed-size` holds for the whole job.
struct ListedSizes {
    var sizes = PageSizes()
    var pages = 0
    /// Per partition: blob bytes listed.
    var bytesByPartition: [String: Int] = [:]

    init(hash: [String: String]) throws {
        for (field, text) in hash {
            guard let value = Int(text), let colon = field.firstIndex(of: ":") else {
                throw BlobferryError(.failed, "listed-size field '\(field)' holds '\(text)', not an integer")
            }
            let partition = String(field[field.index(after: colon)...])
            switch field[..<colon] {
            case "bytes":
                sizes.bytes += value
                bytesByPartition[partition, default: 0] += value
            case "names": sizes.nameBytes += value
            case "medium": sizes.medium += value
            case "large": sizes.large += value
            case "parts": sizes.parts += value
            case "pages": pages += value
            default: break
            }
        }
    }
}

extension JobStore {
    /// The listed-size hash summed over partitions.
    func listedSizes() async throws -> ListedSizes {
        let key = keys.listedSizes
        let hash = try await runIdempotent {
            try $0.send("HGETALL", RedisArgument(key)).decodeHash("HGETALL listed-size")
        }
        return try ListedSizes(hash: hash)
    }

    /// Requests, transfer, Redis memory, cost and time for the job, from its listing so far
    /// and the copy rate of the last minute.
    public func estimate(prices: PriceSettings) async throws -> MigrationEstimate {
        let status = try await status(job: keys.job)
        let listed = try await listedSizes()
        let keysListed = status.partitions.reduce(0) { $0 + $1.listed }
        let sizes = listed.sizes
        let reads = keysListed + sizes.medium + sizes.parts
        let puts = keysListed - sizes.large
        let s3Requests = puts + 2 * sizes.large + sizes.parts
        let egress = Double(sizes.bytes) / 1e9
        let costList = Double(listed.pages) / 10_000 * prices.azureListPer10k
        let costRead = Double(reads) / 10_000 * prices.azureReadPer10k
        let costEgress = egress * prices.egressPerGB
        let costS3 = Double(s3Requests) / 1000 * prices.s3PutPer1k
        let rate = status.ratePerSecond1m
        return MigrationEstimate(
            job: keys.job, listingComplete: status.producer == .listed, keys: keysListed, bytes: sizes.bytes,
            azureListOperations: listed.pages, azureReadOperations: reads, egressGB: egress, s3Puts: puts,
            s3MultipartUploads: sizes.large, s3Parts: sizes.parts, s3Requests: s3Requests,
            redisDoneBytes: sizes.nameBytes + keysListed * MigrationEstimate.doneSetOverhead,
            redisBytesPerMember: MigrationEstimate.doneSetOverhead, costAzureList: costList, costAzureRead: costRead,
            costEgress: costEgress, costS3: costS3, costTotal: costList + costRead + costEgress + costS3,
            ratePerSecond1m: rate, secondsAllAtRate: rate > 0 ? Double(keysListed) / rate : nil,
            secondsRemainingAtRate: rate > 0 ? Double(status.queued + status.inflight) / rate : nil)
    }
}
