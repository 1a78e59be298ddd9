import BlobferryCrypto
import BlobferryHTTP
import Foundation
import Logging

/// What the executables share: loggers, building clients from settings, and
/// turning any error into one stderr line and an exit code.
public enum Runtime {
    /// A logger at the settings' level. Where it writes is the logging system's bootstrap,
    /// done once per process by the executables' entry point (BlobferryCLI): stderr.
    public static func logger(label: String, level: String) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = Logger.Level(rawValue: level.lowercased()) ?? .info
        return logger
    }

    public static func azureClient(settings: Settings, http: HTTPEngine) throws -> AzureBlobClient {
        let credential: AzureCredential
        if let key = settings.source.key {
            credential = .sharedKey(account: settings.source.account, key: key)
        } else if let token = settings.source.sasToken {
            credential = .sas(token)
        } else {
            throw BlobferryError(.configuration, "no Azure credentials (AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN)")
        }
        return try AzureBlobClient(
            endpoint: settings.sourceEndpoint, container: settings.source.container, credential: credential, http: http)
    }

    public static func s3Client(settings: Settings, http: HTTPEngine) throws -> S3Client {
        let destination = settings.destination
        let credentials = AWSCredentials(
            accessKeyID: destination.accessKeyID, secretAccessKey: destination.secretAccessKey?.exposedValue ?? "",
            sessionToken: destination.sessionToken?.exposedValue)
        return try S3Client(
            endpoint: destination.endpoint, region: destination.region, bucket: destination.bucket,
            addressing: destination.addressing, credentials: credentials, http: http)
    }

    public static func httpEngine(connections: Int) throws -> HTTPEngine {
        var configuration = HTTPEngineConfiguration()
        configuration.maxConnectionsPerHost = max(16, connections)
        configuration.maxTotalConnections = max(32, connections * 2)
        do {
            return try HTTPEngine(configuration: configuration)
        } catch {
            throw BlobferryError(.failed, "cannot start the HTTP engine: \(error)")
        }
    }
}
