import Foundation

/// Builds `Settings` from the defaults, then the YAML file, then the environment; the
/// executables apply their flags on top and call `validate(for:)`.
///
/// The environment alone is enough to configure a job (compose, Kubernetes), using the
/// standard Azure and AWS variable names where they exist.
public enum SettingsLoader {
    /// The variable naming the config file when no `--config` flag is given.
    public static let configFileVariable = "BLOBFERRY_CONFIG"

    public static func load(
        configPath: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> Settings {
        var settings = Settings()
        let path = configPath ?? environment[configFileVariable].flatMap { $0.isEmpty ? nil : $0 }
        if let path {
            try apply(try ConfigFile.load(path: path), to: &settings)
        }
        try apply(EnvironmentReader(environment), to: &settings)
        return settings
    }

    private static func apply(_ file: ConfigFile, to settings: inout Settings) throws {
        if let job = file.job { settings.job = job }
        if let url = file.redis?.url { settings.redisURL = Secret(url) }
        if let source = file.source {
            if let text = source.connectionString { try applyConnectionString(text, to: &settings.source) }
            if let value = source.endpoint { settings.source.endpoint = value }
            if let value = source.account { settings.source.account = value }
            if let value = source.key { settings.source.key = Secret(value) }
            if let value = source.sasToken { settings.source.sasToken = Secret(value) }
            if let value = source.container { settings.source.container = value }
        }
        if let destination = file.destination {
            if let value = destination.endpoint { settings.destination.endpoint = value }
            if let value = destination.region { settings.destination.region = value }
            if let value = destination.bucket { settings.destination.bucket = value }
            if let value = destination.prefix { settings.destination.prefix = value }
            if let value = destination.accessKeyID { settings.destination.accessKeyID = value }
            if let value = destination.secretAccessKey { settings.destination.secretAccessKey = Secret(value) }
            if let value = destination.sessionToken { settings.destination.sessionToken = Secret(value) }
            if let value = destination.addressing { settings.destination.addressing = value }
        }
        if let producer = file.producer {
            if let value = producer.partitions { settings.producer.partitions = value.value }
            if let value = producer.maxQueuedPerPartition { settings.producer.maxQueuedPerPartition = value }
            if let value = producer.listers { settings.producer.listers = value }
            if let value = producer.pageSize { settings.producer.pageSize = value }
        }
        if let consumer = file.consumer {
            if let value = consumer.concurrency { settings.consumer.concurrency = value }
            if let value = consumer.batch { settings.consumer.batch = value }
            if let value = consumer.leaseSeconds { settings.consumer.leaseSeconds = value }
            if let value = consumer.maxAttempts { settings.consumer.maxAttempts = value }
            if let value = consumer.authFailureLimit { settings.consumer.authFailureLimit = value }
            if let value = consumer.waitForMore { settings.consumer.waitForMore = value }
            if let value = consumer.multipartThreshold { settings.consumer.multipartThreshold = value }
            if let value = consumer.partSize { settings.consumer.partSize = value }
        }
        if let value = file.redisOutageSeconds { settings.redisOutageSeconds = value }
        if let value = file.logLevel { settings.logLevel = value }
    }

    private static func apply(_ env: EnvironmentReader, to settings: inout Settings) throws {
        if let value = env["BLOBFERRY_JOB"] { settings.job = value }
        if let value = env["BLOBFERRY_REDIS_URL"] { settings.redisURL = Secret(value) }
        if let value = env["AZURE_STORAGE_CONNECTION_STRING"] {
            try applyConnectionString(value, to: &settings.source)
        }
        if let value = env["AZURE_STORAGE_ACCOUNT"] { settings.source.account = value }
        if let value = env["AZURE_STORAGE_KEY"] { settings.source.key = Secret(value) }
        if let value = env["AZURE_STORAGE_SAS_TOKEN"] { settings.source.sasToken = Secret(value) }
        if let value = env["BLOBFERRY_SOURCE_ENDPOINT"] { settings.source.endpoint = value }
        if let value = env["BLOBFERRY_SOURCE_CONTAINER"] { settings.source.container = value }
        if let value = env["AWS_ENDPOINT_URL_S3"] ?? env["AWS_ENDPOINT_URL"] { settings.destination.endpoint = value }
        if let value = env["AWS_REGION"] ?? env["AWS_DEFAULT_REGION"] { settings.destination.region = value }
        if let value = env["BLOBFERRY_DEST_BUCKET"] { settings.destination.bucket = value }
        if let value = env["BLOBFERRY_DEST_PREFIX"] { settings.destination.prefix = value }
        if let value = env["AWS_ACCESS_KEY_ID"] { settings.destination.accessKeyID = value }
        if let value = env["AWS_SECRET_ACCESS_KEY"] { settings.destination.secretAccessKey = Secret(value) }
        if let value = env["AWS_SESSION_TOKEN"] { settings.destination.sessionToken = Secret(value) }
        if let value = env["BLOBFERRY_DEST_ADDRESSING"] { settings.destination.addressing = value }
        if let value = env["BLOBFERRY_PARTITIONS"] { settings.producer.partitions = value }
        if let value = try env.int("BLOBFERRY_MAX_QUEUED_PER_PARTITION") {
            settings.producer.maxQueuedPerPartition = value
        }
        if let value = try env.int("BLOBFERRY_LISTERS") { settings.producer.listers = value }
        if let value = try env.int("BLOBFERRY_PAGE_SIZE") { settings.producer.pageSize = value }
        if let value = try env.int("BLOBFERRY_CONCURRENCY") { settings.consumer.concurrency = value }
        if let value = try env.int("BLOBFERRY_BATCH") { settings.consumer.batch = value }
        if let value = try env.double("BLOBFERRY_LEASE_SECONDS") { settings.consumer.leaseSeconds = value }
        if let value = try env.int("BLOBFERRY_MAX_ATTEMPTS") { settings.consumer.maxAttempts = value }
        if let value = try env.int("BLOBFERRY_AUTH_FAILURE_LIMIT") { settings.consumer.authFailureLimit = value }
        if let value = try env.bool("BLOBFERRY_WAIT_FOR_MORE") { settings.consumer.waitForMore = value }
        if let value = try env.bool("BLOBFERRY_REBIND") { settings.rebind = value }
        if let value = try env.int("BLOBFERRY_MULTIPART_THRESHOLD") { settings.consumer.multipartThreshold = value }
        if let value = try env.int("BLOBFERRY_PART_SIZE") { settings.consumer.partSize = value }
        if let value = env["BLOBFERRY_CONSUMER_ID"] { settings.consumer.consumerID = value }
        if let value = try env.double("BLOBFERRY_REDIS_OUTAGE_SECONDS") { settings.redisOutageSeconds = value }
        if let value = env["BLOBFERRY_LOG_LEVEL"] { settings.logLevel = value }
    }

    private static func applyConnectionString(_ text: String, to source: inout SourceSettings) throws {
        let parsed = try AzureConnectionString(parsing: text)
        if let value = parsed.account { source.account = value }
        if let value = parsed.key { source.key = Secret(value) }
        if let value = parsed.sasToken { source.sasToken = Secret(value) }
        if let value = parsed.blobEndpoint { source.endpoint = value }
    }
}

/// Typed reads of environment variables; an unparsable value names its variable.
private struct EnvironmentReader {
    let values: [String: String]
    init(_ values: [String: String]) { self.values = values }

    /// A variable's value; unset and empty are the same (compose writes empty values).
    subscript(name: String) -> String? {
        guard let value = values[name], !value.isEmpty else { return nil }
        return value
    }

    func int(_ name: String) throws -> Int? {
        guard let text = self[name] else { return nil }
        guard let value = Int(text.replacingOccurrences(of: "_", with: "")) else {
            throw BlobferryError(.configuration, "\(name)=\(text) is not a whole number")
        }
        return value
    }

    func double(_ name: String) throws -> Double? {
        guard let text = self[name] else { return nil }
        guard let value = Double(text) else {
            throw BlobferryError(.configuration, "\(name)=\(text) is not a number")
        }
        return value
    }

    func bool(_ name: String) throws -> Bool? {
        guard let text = self[name]?.lowercased() else { return nil }
        switch text {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw BlobferryError(.configuration, "\(name)=\(text) is not true or false")
        }
    }
}
