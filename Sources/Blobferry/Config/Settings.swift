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
    }
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
    public init() {}
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
    /// Consecutive authorization failures after which the consumer stops and exits.
    public var authFailureLimit: Int = 5
    /// Keep polling for work after the job is complete instead of exiting 0.
    public var waitForMore: Bool = false
    /// Blobs at least this large are copied by multipart upload.
    public var multipartThreshold: Int = 64 * 1024 * 1024
    /// Part size for multipart uploads (grown to fit S3's 10,000-part limit).
    public var partSize: Int = 16 * 1024 * 1024
    /// Bytes of blob bodies one process holds in memory at most; copies wait for budget.
    public var memoryBudget: Int = 256 * 1024 * 1024
    /// An identifier for this consumer (default: hostname-pid).
    public var consumerID: String = ""
    public init() {}
}

/// What a process needs validated before it starts.
public enum Role: Sendable {
    case producer, consumer, admin
}
