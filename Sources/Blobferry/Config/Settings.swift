import BlobferryHTTP
import Foundation

/// Everything one blobferry job needs, resolved from defaults, a YAML file, the environment
/// and command-line flags (later sources win), and validated before any service is touched.
public struct Settings: Sendable {
    /// Names the job: every Redis key of the job lives under `blobferry:<job>:`.
    public var job: String
    public var redisURL: Secret
    public var source: SourceSettings
    public var destination: DestinationSettings
    public var producer: ProducerSettings
    public var consumer: ConsumerSettings
    /// How long a process keeps its work and retries while Redis is unreachable before it
    /// exits non-zero.
    public var redisOutageSeconds: Double
    public var logLevel: String
    /// `text` (swift-log's lines) or `json` (one object per line, for log pipelines).
    public var logFormat: String
    /// `HOST:PORT` where the producer or consumer serves Prometheus metrics at `/metrics`
    /// (empty: none); `blobferry exporter --listen` uses it too.
    public var metricsAddress: String
    /// Seconds between the progress lines producers and consumers log (0: none).
    public var progressInterval: Double
    /// Accept a source or destination other than the one the job was bound to at its
    /// first run (and record the new one): moving a job is a deliberate act.
    public var rebind: Bool
    /// A file of CA certificates (PEM) that replaces the system store for both Azure and
    /// S3 (a company proxy, a store with a private CA); empty: `SSL_CERT_FILE` or the
    /// system's. One file for both sides keeps curl's CA cache shared.
    public var caBundle: String
    /// The prices `blobferry estimate` multiplies its request and transfer counts by.
    public var prices: PriceSettings

    public init() {
        job = ""
        redisURL = Secret("redis://127.0.0.1:6379/0")
        source = SourceSettings()
        destination = DestinationSettings()
        producer = ProducerSettings()
        consumer = ConsumerSettings()
        redisOutageSeconds = 300
        logLevel = "info"
        logFormat = "text"
        metricsAddress = ""
        progressInterval = 30
        rebind = false
        caBundle = ""
        prices = PriceSettings()
    }
}

/// Prices for `blobferry estimate`, in US dollars. The defaults are list prices read on
/// 2026-11-30 (Azure Blob Storage Hot LRS, S3 Standard, us-east regions; see the README's
/// "Operating a migration"): set your region's and agreement's.
public struct PriceSettings: Sendable {
    /// Azure List Blobs calls ("List and Create Container operations"), per 10,000.
    public var azureListPer10k: Double = 0.05
    /// Azure Get Blob calls ("Read operations", Hot tier), per 10,000.
    public var azureReadPer10k: Double = 0.004
    /// Azure data transfer out to the internet, per GB (10^9 bytes).
    public var egressPerGB: Double = 0.087
    /// S3 PUT, POST (multipart initiate, complete) and part uploads, per 1,000.
    public var s3PutPer1k: Double = 0.005
}

/// The Azure side: where blobs come from and how requests are authorized.
public struct SourceSettings: Sendable {
    /// Blob service endpoint, e.g. `https://ACCOUNT.blob.core.windows.net` or an
    /// emulator's path-style `http://127.0.0.1:10000/devstoreaccount1`.
    public var endpoint: String = ""
    public var account: String = ""
    /// Shared Key (base64). Either this or `sasToken`.
    public var key: Secret?
    /// A SAS token (query string, with or without the leading `?`).
    public var sasToken: Secret?
    public var container: String = ""
    /// Requests per second to Azure, shared by every process of the job (0: no limit).
    public var requestsPerSecond: Double = 0
    /// What to migrate (see `ListingFilter`): comma-separated globs, and ISO 8601 bounds
    /// of Last-Modified (empty: no bound).
    public var include: String = ""
    public var exclude: String = ""
    public var modifiedAfter: String = ""
    public var modifiedBefore: String = ""
    public init() {}
}

/// The S3 side.
public struct DestinationSettings: Sendable {
    /// Empty means AWS (`https://s3.REGION.amazonaws.com`).
    public var endpoint: String = ""
    public var region: String = "us-east-1"
    public var bucket: String = ""
    /// Prepended to every key (e.g. `from-azure/`).
    public var prefix: String = ""
    public var accessKeyID: String = ""
    public var secretAccessKey: Secret?
    public var sessionToken: Secret?
    /// `path` (`endpoint/bucket/key`, S3-compatible servers) or `virtual`
    /// (`bucket.endpoint/key`, AWS). Empty: path for a custom endpoint, virtual for AWS.
    public var addressing: String = ""
    /// Requests per second to S3, shared by every process of the job (0: no limit).
    public var requestsPerSecond: Double = 0
    /// `x-amz-storage-class` of every object (`STANDARD_IA`, `GLACIER_IR`...); empty: the
    /// bucket's default (STANDARD).
    public var storageClass: String = ""
    /// Server-side encryption: empty (the bucket's default), `AES256` (SSE-S3) or
    /// `aws:kms` (SSE-KMS, with `sseKMSKeyID` or the account's AWS-managed key).
    public var sse: String = ""
    public var sseKMSKeyID: String = ""
    /// SSE-KMS with an S3 Bucket Key (fewer KMS requests, lower KMS cost).
    public var sseBucketKey: Bool = false
    /// `x-amz-acl`: empty, or `bucket-owner-full-control` for a bucket another account owns.
    public var acl: String = ""
    /// `always` (default) replaces what the bucket holds under a key; `never` sends
    /// `If-None-Match: *` and counts the keys that already had an object as skipped.
    public var overwrite: String = "always"
    /// Azure access tier to S3 storage class, `Hot=STANDARD,Cool=STANDARD_IA,Cold=GLACIER_IR`:
    /// a blob whose tier is listed gets that class instead of `storageClass` (costs one Get
    /// Blob Properties per blob). Empty: every object gets `storageClass`.
    public var storageClassByTier: String = ""
    /// Blob index tags become S3 object tags (`x-amz-tagging`). Needs the tags permission
    /// on the container (Storage Blob Data Owner, or a role with `tags/read`; a SAS with `t`).
    public var copyTags: Bool = false
    public init() {}

    /// `storageClassByTier` parsed: lower-cased tier -> storage class (malformed pairs are
    /// refused by validation, and skipped here).
    public var storageClassesByTier: [String: String] {
        var classes: [String: String] = [:]
        for pair in storageClassByTier.split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.count == 2, !parts[0].isEmpty { classes[parts[0].lowercased()] = parts[1] }
        }
        return classes
    }

    /// The storage and access headers every object is written with.
    public var objectHeaders: [HTTPHeader] {
        var headers: [HTTPHeader] = []
        if !storageClass.isEmpty { headers.append(HTTPHeader("x-amz-storage-class", storageClass)) }
        if !sse.isEmpty { headers.append(HTTPHeader("x-amz-server-side-encryption", sse)) }
        if sse == "aws:kms" {
            if !sseKMSKeyID.isEmpty {
                headers.append(HTTPHeader("x-amz-server-side-encryption-aws-kms-key-id", sseKMSKeyID))
            }
            if sseBucketKey { headers.append(HTTPHeader("x-amz-server-side-encryption-bucket-key-enabled", "true")) }
        }
        if !acl.isEmpty { headers.append(HTTPHeader("x-amz-acl", acl)) }
        return headers
    }
}

/// How the producer lists and how far it may run ahead of the consumers.
public struct ProducerSettings: Sendable {
    /// `one-char` (A-Z a-z 0-9), `two-char` (every pair of those) or a comma-separated
    /// list of prefixes; keys that match no prefix always go to the catch-all partition.
    public var partitions: String = "one-char"
    /// A partition's lister pauses while its queue holds more keys than this.
    public var maxQueuedPerPartition: Int = 100_000
    /// Partitions listed at the same time.
    public var listers: Int = 16
    /// List Blobs page size (Azure caps it at 5000).
    public var pageSize: Int = 5000
    /// One producer per job: the lease a producer renews while it lists.
    public var leaseSeconds: Double = 30
    public init() {}
}

/// How a consumer claims and copies.
public struct ConsumerSettings: Sendable {
    /// Copies in flight in one process.
    public var concurrency: Int = 64
    /// Keys claimed (and acknowledged) per Redis round trip.
    public var batch: Int = 128
    /// A consumer silent this long loses its claims to the others.
    public var leaseSeconds: Double = 60
    /// Tries per key (in-process retries plus lease expiries) before it goes to `failed`.
    public var maxAttempts: Int = 5
    /// Consecutive 401/403s after which the consumer re-checks access: it exits 3 if the
    /// check fails too or nothing was copied yet, else treats them as refusals of those keys.
    public var authFailureLimit: Int = 5
    /// Keep polling for work after the job is complete instead of exiting 0.
    public var waitForMore: Bool = false
    /// Blobs at least this large are copied by multipart upload.
    public var multipartThreshold: Int = 64 * 1024 * 1024
    /// Part size for multipart uploads (grown to fit S3's 10,000-part limit).
    public var partSize: Int = 16 * 1024 * 1024
    /// Bytes of blob bodies one process holds in memory at most; copies wait for budget.
    public var memoryBudget: Int = 256 * 1024 * 1024
    /// Bytes per second one process reads from the source at most (0: no limit).
    public var bandwidth: Int = 0
    /// An identifier for this consumer (default: hostname-pid).
    public var consumerID: String = ""
    public init() {}
}

/// What a process needs validated before it starts.
public enum Role: Sendable {
    case producer, consumer, admin
}
