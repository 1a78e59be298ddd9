/// One setting, described once: its YAML path, the environment variables that set it,
/// whether it is a secret, its help text, its range, and where it lands in `Settings`.
/// Loading (file and environment), range validation, error messages and the example
/// config test all read `SettingDescriptor.all`, so adding a setting is one line here
/// plus its use (and its flag, which swift-argument-parser declares statically).
public struct SettingDescriptor: Sendable {
    /// How a raw value (YAML scalar or environment text) becomes a setting.
    public enum Kind: Sendable, Equatable {
        case text, secret, integer, number, flag
        /// A scheme name, a comma-separated list, or a YAML list of prefixes.
        case partitions
        /// An Azure connection string: it sets account, key or SAS, and endpoint at once.
        case connectionString
    }

    /// A value after parsing, before it is stored.
    enum Value {
        case text(String)
        case integer(Int)
        case number(Double)
        case flag(Bool)
    }

    /// Dotted YAML path (`consumer.batch`); the section is the part before the dot.
    public let path: String
    /// Environment variables, the first one set wins (`AWS_ENDPOINT_URL_S3`, then `AWS_ENDPOINT_URL`).
    public let variables: [String]
    public let kind: Kind
    public let help: String
    /// The role that validates this setting's range (nil: every role).
    let role: Role?
    let store: @Sendable (inout Settings, Value) throws -> Void
    /// Nil when the value is acceptable, else what is wrong ("must be 1...4096").
    let problem: @Sendable (Settings) -> String?

    /// Whether values of this setting must never be printed.
    public var isSecret: Bool { kind == .secret || kind == .connectionString }

    /// The name used in messages: the path and its first variable.
    var displayName: String { variables.first.map { "\(path) (\($0))" } ?? path }
}

extension SettingDescriptor {
    /// Every setting blobferry reads, in the order they are applied (a connection string
    /// before the account, key and endpoint it may be overridden by).
    public static let all: [SettingDescriptor] = [
        text("job", "BLOBFERRY_JOB", at: \.job, help: "job name (its Redis keys live under blobferry:<job>:)"),
        secret("redis.url", "BLOBFERRY_REDIS_URL", at: \.redisURL, help: "redis://[user:password@]host:port/db"),
        number(
            "redis_outage_seconds", "BLOBFERRY_REDIS_OUTAGE_SECONDS", at: \.redisOutageSeconds, minimum: 0,
            help: "how long a process waits for an unreachable Redis, then exits 5"),
        text(
            "log_level", "BLOBFERRY_LOG_LEVEL", at: \.logLevel,
            help: "log level: trace, debug, info, notice, warning, error"),
        SettingDescriptor(
            path: "log_format", variables: ["BLOBFERRY_LOG_FORMAT"], kind: .text,
            help: "text | json (one JSON object per log line)", role: nil,
            store: { settings, value in if case .text(let text) = value { settings.logFormat = text } },
            problem: { ["text", "json"].contains($0.logFormat) ? nil : "must be text or json" }),
        SettingDescriptor(
            path: "metrics_address", variables: ["BLOBFERRY_METRICS_ADDRESS"], kind: .text,
            help: "HOST:PORT serving Prometheus metrics at /metrics (empty: none)", role: nil,
            store: { settings, value in if case .text(let text) = value { settings.metricsAddress = text } },
            problem: {
                $0.metricsAddress.isEmpty || ListenAddress(parsing: $0.metricsAddress) != nil
                    ? nil : "must be HOST:PORT, e.g. 0.0.0.0:9400"
            }),
        number(
            "progress_interval", "BLOBFERRY_PROGRESS_INTERVAL", at: \.progressInterval, minimum: 0,
            help: "seconds between progress lines in the log (0: none)"),
        number(
            "prices.azure_list_per_10k", "BLOBFERRY_PRICE_AZURE_LIST_PER_10K", at: \.prices.azureListPer10k,
            minimum: 0, help: "US$ per 10,000 Azure List Blobs calls (blobferry estimate)"),
        number(
            "prices.azure_read_per_10k", "BLOBFERRY_PRICE_AZURE_READ_PER_10K", at: \.prices.azureReadPer10k,
            minimum: 0, help: "US$ per 10,000 Azure read operations (blobferry estimate)"),
        number(
            "prices.egress_per_gb", "BLOBFERRY_PRICE_EGRESS_PER_GB", at: \.prices.egressPerGB, minimum: 0,
            help: "US$ per GB transferred out of Azure (blobferry estimate)"),
        number(
            "prices.s3_put_per_1k", "BLOBFERRY_PRICE_S3_PUT_PER_1K", at: \.prices.s3PutPer1k, minimum: 0,
            help: "US$ per 1,000 S3 PUT/POST/part requests (blobferry estimate)"),
        text(
            "ca_bundle", "BLOBFERRY_CA_BUNDLE", "AWS_CA_BUNDLE", at: \.caBundle,
            help:
                "CA certificates (PEM) both sides are verified against instead of the system store; default AWS_CA_BUNDLE"
        ),
        flag(
            "rebind", "BLOBFERRY_REBIND", at: \.rebind,
            help: "accept a source or destination other than the one the job was bound to"),

        SettingDescriptor(
            path: "source.connection_string", variables: ["AZURE_STORAGE_CONNECTION_STRING"], kind: .connectionString,
            help: "account, key or SAS, and endpoint in one string", role: nil,
            store: { settings, value in
                guard case .text(let text) = value else { return }
                let parsed = try AzureConnectionString(parsing: text)
                if let value = parsed.account { settings.source.account = value }
                if let value = parsed.key { settings.source.key = Secret(value) }
                if let value = parsed.sasToken { settings.source.sasToken = Secret(value) }
                if let value = parsed.blobEndpoint { settings.source.endpoint = value }
            }, problem: { _ in nil }),
        text("source.endpoint", "BLOBFERRY_SOURCE_ENDPOINT", at: \.source.endpoint, help: "default from the account"),
        text("source.account", "AZURE_STORAGE_ACCOUNT", at: \.source.account, help: "storage account name"),
        optionalSecret("source.key", "AZURE_STORAGE_KEY", at: \.source.key, help: "Shared Key (base64)"),
        optionalSecret(
            "source.sas_token", "AZURE_STORAGE_SAS_TOKEN", at: \.source.sasToken,
            help: "needs list + read on the container"),
        text(
            "source.container", "BLOBFERRY_SOURCE_CONTAINER", at: \.source.container, help: "the container to migrate"),
        text(
            "source.include", "BLOBFERRY_INCLUDE", at: \.source.include, role: .producer,
            help: "comma-separated globs (fnmatch, * also matches /); only names matching one are migrated"),
        text(
            "source.exclude", "BLOBFERRY_EXCLUDE", at: \.source.exclude, role: .producer,
            help: "comma-separated globs; names matching one are not migrated"),
        text(
            "source.modified_after", "BLOBFERRY_MODIFIED_AFTER", at: \.source.modifiedAfter, role: .producer,
            help: "migrate only blobs last modified at or after this (ISO 8601 time or day, UTC)"),
        text(
            "source.modified_before", "BLOBFERRY_MODIFIED_BEFORE", at: \.source.modifiedBefore, role: .producer,
            help: "migrate only blobs last modified before this (ISO 8601 time or day, UTC)"),

        number(
            "source.requests_per_second", "BLOBFERRY_SOURCE_REQUESTS_PER_SECOND", at: \.source.requestsPerSecond,
            minimum: 0, help: "requests per second to Azure, shared by every process of the job (0: no limit)"),
        text(
            "destination.endpoint", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", at: \.destination.endpoint,
            help: "empty = AWS"),
        text("destination.region", "AWS_REGION", "AWS_DEFAULT_REGION", at: \.destination.region, help: "S3 region"),
        text("destination.bucket", "BLOBFERRY_DEST_BUCKET", at: \.destination.bucket, help: "the bucket to copy into"),
        text("destination.prefix", "BLOBFERRY_DEST_PREFIX", at: \.destination.prefix, help: "prepended to every key"),
        text(
            "destination.addressing", "BLOBFERRY_DEST_ADDRESSING", at: \.destination.addressing,
            help: "path | virtual; default: path with an endpoint, virtual on AWS"),
        text(
            "destination.storage_class", "BLOBFERRY_DEST_STORAGE_CLASS", at: \.destination.storageClass,
            help: "S3 storage class of every object (STANDARD_IA, GLACIER_IR...); empty: the bucket's default"),
        text(
            "destination.storage_class_by_tier", "BLOBFERRY_DEST_STORAGE_CLASS_BY_TIER",
            at: \.destination.storageClassByTier,
            help:
                "Azure tier to S3 class, e.g. Hot=STANDARD,Cool=STANDARD_IA,Cold=GLACIER_IR: overrides storage_class for those tiers (one Get Blob Properties per blob)"
        ),
        flag(
            "destination.copy_tags", "BLOBFERRY_COPY_TAGS", at: \.destination.copyTags,
            help:
                "blob index tags become S3 object tags (needs the tags permission, more than Storage Blob Data Reader)"),
        text(
            "destination.sse", "BLOBFERRY_DEST_SSE", at: \.destination.sse,
            help: "server-side encryption: AES256 (SSE-S3) or aws:kms (SSE-KMS); empty: the bucket's default"),
        text(
            "destination.sse_kms_key_id", "BLOBFERRY_DEST_SSE_KMS_KEY_ID", at: \.destination.sseKMSKeyID,
            help: "KMS key id or ARN for aws:kms; empty: the AWS-managed key"),
        flag(
            "destination.sse_bucket_key", "BLOBFERRY_DEST_SSE_BUCKET_KEY", at: \.destination.sseBucketKey,
            help: "SSE-KMS with an S3 Bucket Key (fewer, cheaper KMS requests)"),
        text(
            "destination.acl", "BLOBFERRY_DEST_ACL", at: \.destination.acl,
            help: "bucket-owner-full-control for a bucket another account owns; empty: none"),
        text(
            "destination.overwrite", "BLOBFERRY_OVERWRITE", at: \.destination.overwrite,
            help: "always | never (If-None-Match: *; objects already there are counted as skipped)"),
        text(
            "destination.access_key_id", "AWS_ACCESS_KEY_ID", at: \.destination.accessKeyID, help: "AWS access key id"),
        optionalSecret(
            "destination.secret_access_key", "AWS_SECRET_ACCESS_KEY", at: \.destination.secretAccessKey,
            help: "AWS secret access key"),
        optionalSecret(
            "destination.session_token", "AWS_SESSION_TOKEN", at: \.destination.sessionToken,
            help: "for temporary credentials"),

        number(
            "destination.requests_per_second", "BLOBFERRY_DEST_REQUESTS_PER_SECOND",
            at: \.destination.requestsPerSecond, minimum: 0,
            help: "requests per second to S3, shared by every process of the job (0: no limit)"),

        SettingDescriptor(
            path: "producer.partitions", variables: ["BLOBFERRY_PARTITIONS"], kind: .partitions,
            help: "one-char | two-char | a list of prefixes", role: nil,
            store: { settings, value in
                if case .text(let text) = value { settings.producer.partitions = text }
            }, problem: { _ in nil }),
        integer(
            "producer.listers", "BLOBFERRY_LISTERS", at: \.producer.listers, 1...Int.max, role: .producer,
            help: "listing units (prefixes, gaps, sub-ranges) listed at the same time"),
        integer(
            "producer.page_size", "BLOBFERRY_PAGE_SIZE", at: \.producer.pageSize, 1...5000, role: .producer,
            help: "List Blobs page (Azure's cap is 5000)"),
        number(
            "producer.lease_seconds", "BLOBFERRY_PRODUCER_LEASE_SECONDS", at: \.producer.leaseSeconds, minimum: 2,
            role: .producer, help: "one producer per job: a second one waits this long for the lease, then exits"),
        integer(
            "producer.max_queued_per_partition", "BLOBFERRY_MAX_QUEUED_PER_PARTITION",
            at: \.producer.maxQueuedPerPartition, 1...Int.max, role: .producer, help: "back-pressure bound"),

        integer(
            "consumer.concurrency", "BLOBFERRY_CONCURRENCY", at: \.consumer.concurrency, 1...4096, role: .consumer,
            help: "copies in flight per process"),
        integer(
            "consumer.batch", "BLOBFERRY_BATCH", at: \.consumer.batch, 1...QueueScripts.maxBatch, role: .consumer,
            help: "keys per claim / acknowledgement"),
        number(
            "consumer.lease_seconds", "BLOBFERRY_LEASE_SECONDS", at: \.consumer.leaseSeconds, minimum: 2,
            role: .consumer,
            help: "silent this long = dead; its claims go back"),
        integer(
            "consumer.max_attempts", "BLOBFERRY_MAX_ATTEMPTS", at: \.consumer.maxAttempts, 1...Int.max, role: .consumer,
            help: "then the key goes to failed"),
        integer(
            "consumer.auth_failure_limit", "BLOBFERRY_AUTH_FAILURE_LIMIT", at: \.consumer.authFailureLimit, 1...Int.max,
            role: .consumer, help: "consecutive 401/403s before re-checking access"),
        flag(
            "consumer.wait_for_more", "BLOBFERRY_WAIT_FOR_MORE", at: \.consumer.waitForMore,
            help: "keep running after the job completes"),
        integer(
            "consumer.multipart_threshold", "BLOBFERRY_MULTIPART_THRESHOLD", at: \.consumer.multipartThreshold,
            1...Int.max, role: .consumer, help: "bytes; larger blobs go multipart"),
        integer(
            "consumer.part_size", "BLOBFERRY_PART_SIZE", at: \.consumer.partSize, (5 << 20)...(5 << 30),
            role: .consumer,
            help: "bytes, between 5 MiB and 5 GiB (grown to stay within 10,000 parts)"),
        integer(
            "consumer.memory_budget", "BLOBFERRY_MEMORY_BUDGET", at: \.consumer.memoryBudget, (32 << 20)...Int.max,
            role: .consumer, help: "bytes of blob bodies held in memory at most; copies wait for budget"),
        integer(
            "consumer.bandwidth", "BLOBFERRY_BANDWIDTH", at: \.consumer.bandwidth, 0...Int.max, role: .consumer,
            help: "bytes per second this process reads from the source at most (0: no limit)"),
        text(
            "consumer.id", "BLOBFERRY_CONSUMER_ID", at: \.consumer.consumerID,
            help: "this consumer's name in logs and status, one per process (default host-pid-random)"),
    ]

    /// The descriptor for a YAML path.
    static func named(_ path: String) -> SettingDescriptor? { all.first { $0.path == path } }

    /// Range problems of every setting `role` uses, first one first.
    static func rangeProblem(in settings: Settings, for role: Role) -> String? {
        for descriptor in all where descriptor.role == nil || descriptor.role == role {
            if let problem = descriptor.problem(settings) { return "\(descriptor.path) \(problem)" }
        }
        return nil
    }

    // MARK: builders

    private static func text(
        _ path: String, _ variables: String..., at keyPath: WritableKeyPath<Settings, String> & Sendable,
        role: Role? = nil, help: String
    ) -> SettingDescriptor {
        SettingDescriptor(
            path: path, variables: variables, kind: .text, help: help, role: role,
            store: { settings, value in if case .text(let text) = value { settings[keyPath: keyPath] = text } },
            problem: { _ in nil })
    }

    private static func secret(
        _ path: String, _ variable: String, at keyPath: WritableKeyPath<Settings, Secret> & Sendable, help: String
    ) -> SettingDescriptor {
        SettingDescriptor(
            path: path, variables: [variable], kind: .secret, help: help, role: nil,
            store: { settings, value in if case .text(let text) = value { settings[keyPath: keyPath] = Secret(text) } },
            problem: { _ in nil })
    }

    private static func optionalSecret(
        _ path: String, _ variable: String, at keyPath: WritableKeyPath<Settings, Secret?> & Sendable, help: String
    ) -> SettingDescriptor {
        SettingDescriptor(
            path: path, variables: [variable], kind: .secret, help: help, role: nil,
            store: { settings, value in if case .text(let text) = value { settings[keyPath: keyPath] = Secret(text) } },
            problem: { _ in nil })
    }

    private static func integer(
        _ path: String, _ variable: String, at keyPath: WritableKeyPath<Settings, Int> & Sendable,
        _ range: ClosedRange<Int>, role: Role, help: String
    ) -> SettingDescriptor {
        SettingDescriptor(
            path: path, variables: [variable], kind: .integer, help: help, role: role,
            store: { settings, value in if case .integer(let number) = value { settings[keyPath: keyPath] = number } },
            problem: { settings in
                guard !range.contains(settings[keyPath: keyPath]) else { return nil }
                return range.upperBound == Int.max
                    ? "must be at least \(range.lowerBound)" : "must be \(range.lowerBound)...\(range.upperBound)"
            })
    }

    private static func number(
        _ path: String, _ variable: String, at keyPath: WritableKeyPath<Settings, Double> & Sendable, minimum: Double,
        role: Role? = nil, help: String
    ) -> SettingDescriptor {
        SettingDescriptor(
            path: path, variables: [variable], kind: .number, help: help, role: role,
            store: { settings, value in
                switch value {
                case .number(let number): settings[keyPath: keyPath] = number
                case .integer(let number): settings[keyPath: keyPath] = Double(number)
                default: break
                }
            },
            problem: { settings in
                settings[keyPath: keyPath] >= minimum ? nil : "must be at least \(minimum.formatted)"
            })
    }

    private static func flag(
        _ path: String, _ variable: String, at keyPath: WritableKeyPath<Settings, Bool> & Sendable, help: String
    ) -> SettingDescriptor {
        SettingDescriptor(
            path: path, variables: [variable], kind: .flag, help: help, role: nil,
            store: { settings, value in if case .flag(let flag) = value { settings[keyPath: keyPath] = flag } },
            problem: { _ in nil })
    }
}

extension Double {
    /// `2` rather than `2.0`, for messages.
    fileprivate var formatted: String { self == rounded() ? String(Int(self)) : String(self) }
}
