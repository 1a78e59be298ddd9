import Foundation
import Yams

/// The YAML configuration file (see `config/blobferry.example.yaml`), every field optional:
/// what the file leaves out comes from the defaults or the environment.
struct ConfigFile: Decodable {
    struct Redis: Decodable {
        var url: String?
    }
    struct Source: Decodable {
        var connectionString: String?
        var endpoint: String?
        var account: String?
        var key: String?
        var sasToken: String?
        var container: String?
        enum CodingKeys: String, CodingKey {
            case connectionString = "connection_string", endpoint, account, key
            case sasToken = "sas_token", container
        }
    }
    struct Destination: Decodable {
        var endpoint: String?
        var region: String?
        var bucket: String?
        var prefix: String?
        var accessKeyID: String?
        var secretAccessKey: String?
        var sessionToken: String?
        var addressing: String?
        enum CodingKeys: String, CodingKey {
            case endpoint, region, bucket, prefix, addressing
            case accessKeyID = "access_key_id", secretAccessKey = "secret_access_key"
            case sessionToken = "session_token"
        }
    }
    struct Producer: Decodable {
        var partitions: PartitionList?
        var maxQueuedPerPartition: Int?
        var listers: Int?
        var pageSize: Int?
        enum CodingKeys: String, CodingKey {
            case partitions, listers
            case maxQueuedPerPartition = "max_queued_per_partition", pageSize = "page_size"
        }
    }
    struct Consumer: Decodable {
        var concurrency: Int?
        var batch: Int?
        var leaseSeconds: Double?
        var maxAttempts: Int?
        var authFailureLimit: Int?
        var waitForMore: Bool?
        var multipartThreshold: Int?
        var partSize: Int?
        enum CodingKeys: String, CodingKey {
            case concurrency, batch
            case leaseSeconds = "lease_seconds", maxAttempts = "max_attempts"
            case authFailureLimit = "auth_failure_limit", waitForMore = "wait_for_more"
            case multipartThreshold = "multipart_threshold", partSize = "part_size"
        }
    }
    /// `partitions:` is either a scheme name or a YAML list of prefixes.
    struct PartitionList: Decodable {
        var value: String
        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let list = try? container.decode([String].self) {
                value = list.joined(separator: ",")
            } else {
                value = try container.decode(String.self)
            }
        }
    }

    var job: String?
    var redis: Redis?
    var source: Source?
    var destination: Destination?
    var producer: Producer?
    var consumer: Consumer?
    var redisOutageSeconds: Double?
    var logLevel: String?

    enum CodingKeys: String, CodingKey {
        case job, redis, source, destination, producer, consumer
        case redisOutageSeconds = "redis_outage_seconds", logLevel = "log_level"
    }

    static func load(path: String) throws -> ConfigFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw BlobferryError(.configuration, "config file \(path): cannot be read")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw BlobferryError(.configuration, "config file \(path): not UTF-8 text")
        }
        do {
            try rejectUnknownSettings(in: text, path: path)
            return try YAMLDecoder().decode(ConfigFile.self, from: text)
        } catch let error as BlobferryError {
            throw error
        } catch let error as DecodingError {
            throw BlobferryError(.configuration, "config file \(path): \(Self.describe(error))")
        } catch {
            throw BlobferryError(.configuration, "config file \(path): invalid YAML (\(error))")
        }
    }

    /// The settings a file may hold, by section; a misspelt name is an error, not a
    /// silently ignored line.
    private static let knownSettings: [String: Set<String>] = [
        "": ["job", "redis", "source", "destination", "producer", "consumer", "redis_outage_seconds", "log_level"],
        "redis": ["url"],
        "source": ["connection_string", "endpoint", "account", "key", "sas_token", "container"],
        "destination": [
            "endpoint", "region", "bucket", "prefix", "addressing", "access_key_id", "secret_access_key",
            "session_token",
        ],
        "producer": ["partitions", "listers", "max_queued_per_partition", "page_size"],
        "consumer": [
            "concurrency", "batch", "lease_seconds", "max_attempts", "auth_failure_limit", "wait_for_more",
            "multipart_threshold", "part_size",
        ],
    ]

    private static func rejectUnknownSettings(in text: String, path: String) throws {
        guard let root = try Yams.load(yaml: text) as? [String: Any] else { return }
        for (name, value) in root {
            guard knownSettings[""]?.contains(name) == true else {
                throw BlobferryError(.configuration, "config file \(path): unknown setting '\(name)'")
            }
            guard let section = value as? [String: Any], let allowed = knownSettings[name] else { continue }
            for key in section.keys where !allowed.contains(key) {
                throw BlobferryError(.configuration, "config file \(path): unknown setting '\(name).\(key)'")
            }
        }
    }

    /// A one-line account of a decoding error naming the offending setting.
    private static func describe(_ error: DecodingError) -> String {
        func path(_ codingPath: [CodingKey]) -> String {
            codingPath.map(\.stringValue).joined(separator: ".")
        }
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "setting \(path(context.codingPath)) has the wrong type"
        case .keyNotFound(let key, let context):
            return "setting \(path(context.codingPath + [key])) is missing"
        case .dataCorrupted(let context):
            return "setting \(path(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "invalid configuration"
        }
    }
}
