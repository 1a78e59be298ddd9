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

    /// `store`: the job's Redis, for the shared request-rate limit when one is set.
    public static func azureClient(settings: Settings, http: HTTPEngine, store: JobStore? = nil) throws
        -> AzureBlobClient
    {
        let credential: AzureCredential
        if let key = settings.source.key {
            credential = .sharedKey(account: settings.source.account, key: key)
        } else if let token = settings.source.sasToken {
            credential = .sas(token)
        } else {
            throw BlobferryError(.configuration, "no Azure credentials (AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN)")
        }
        let signer = limited(
            try credential.signer(), side: "azure", rate: settings.source.requestsPerSecond, store: store)
        return try AzureBlobClient(
            endpoint: settings.sourceEndpoint, container: settings.source.container, signer: signer, http: http)
    }

    /// `store`: the job's Redis, for the shared request-rate limit when one is set.
    public static func s3Client(settings: Settings, http: HTTPEngine, store: JobStore? = nil) throws -> S3Client {
        let destination = settings.destination
        let credentials = AWSCredentials(
            accessKeyID: destination.accessKeyID, secretAccessKey: destination.secretAccessKey?.exposedValue ?? "",
            sessionToken: destination.sessionToken?.exposedValue)
        let signer = limited(
            SigV4Signer(credentials: credentials, region: destination.region, service: "s3"), side: "s3",
            rate: destination.requestsPerSecond, store: store)
        return try S3Client(
            endpoint: destination.endpoint, region: destination.region, bucket: destination.bucket,
            addressing: destination.addressing, signer: signer, http: http)
    }

    private static func limited(_ signer: any RequestSigner, side: String, rate: Double, store: JobStore?)
        -> any RequestSigner
    {
        guard let store, rate > 0 else { return signer }
        return RateLimitedSigner(
            limit: SharedRateLimit(store: store, side: side, requestsPerSecond: rate), inner: signer)
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
