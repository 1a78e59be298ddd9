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

    /// `store`: the job's Redis, for the shared request-rate limit when one is set (or can be
    /// set live: `control`, a consumer's). With no key or SAS, finds an Entra ID token (see `AzureTokenChain`) and fetches it once so a
    /// failing source stops the start with one line (exit 3); logs which source it used.
    public static func azureClient(
        settings: Settings, http: HTTPEngine, store: JobStore? = nil, control: LiveControl? = nil, logger: Logger,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws -> AzureBlobClient {
        let signer: any RequestSigner
        if let key = settings.source.key {
            signer = try AzureCredential.sharedKey(account: settings.source.account, key: key).signer()
            logger.info("Azure credentials from the account key (Shared Key)")
        } else if let token = settings.source.sasToken {
            signer = try AzureCredential.sas(token).signer()
            logger.info("Azure credentials from the SAS token")
        } else {
            let tokens = AzureTokenChain.provider(environment: environment, http: http)
            do {
                _ = try await tokens.value()
            } catch let error as CredentialSourceError {
                throw BlobferryError(.credentials, "Azure credentials: \(error.message)")
            }
            logger.info("Azure credentials from \(tokens.sourceName)")
            signer = AzureBearerSigner(tokens: tokens)
        }
        logProxy("Azure", endpoint: settings.sourceEndpoint, http: http, logger: logger)
        return try AzureBlobClient(
            endpoint: settings.sourceEndpoint, container: settings.source.container,
            signer: limited(
                signer, side: "azure", rate: settings.source.requestsPerSecond, store: store, control: control),
            http: http)
    }

    /// `store`: the job's Redis, for the shared request-rate limit when one is set (or can be
    /// set live: `control`, a consumer's). Finds the
    /// credentials (see `AWSCredentialChain`), fetches them once so a failing source stops
    /// the start with one line (exit 3), and logs which source it used.
    public static func s3Client(
        settings: Settings, http: HTTPEngine, store: JobStore? = nil, control: LiveControl? = nil, logger: Logger,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws -> S3Client {
        let destination = settings.destination
        let provider: RefreshingCredentials<AWSCredentials>
        do {
            provider = try AWSCredentialChain.provider(settings: destination, environment: environment, http: http)
            _ = try await provider.value()
        } catch let error as CredentialSourceError {
            throw BlobferryError(.credentials, "AWS credentials: \(error.message)")
        }
        logger.info("AWS credentials from \(provider.sourceName)")
        // No endpoint: AWS's own, over HTTPS.
        logProxy(
            "S3", endpoint: destination.endpoint.isEmpty ? "https://" : destination.endpoint, http: http, logger: logger
        )
        let signer = limited(
            RefreshingSigV4Signer(credentials: provider, region: destination.region, service: "s3"), side: "s3",
            rate: destination.requestsPerSecond, store: store, control: control)
        return try S3Client(
            endpoint: destination.endpoint, region: destination.region, bucket: destination.bucket,
            addressing: destination.addressing, signer: signer, http: http,
            credentialsHint: "the AWS credentials from \(provider.sourceName) and their IAM policy")
    }

    /// Says once at start which proxy a side's requests take (without its password).
    private static func logProxy(_ side: String, endpoint: String, http: HTTPEngine, logger: Logger) {
        guard let proxy = http.proxies.proxy(for: endpoint) else { return }
        let exceptions = http.proxies.noProxy.map { " unless its host is in NO_PROXY (\($0))" } ?? ""
        logger.info("\(side) requests through the proxy \(HTTPProxies.redacted(proxy))\(exceptions)")
    }

    private static func limited(
        _ signer: any RequestSigner, side: String, rate: Double, store: JobStore?, control: LiveControl?
    ) -> any RequestSigner {
        guard let store, rate > 0 || control != nil else { return signer }
        return RateLimitedSigner(
            limit: SharedRateLimit(store: store, side: side, requestsPerSecond: rate, control: control), inner: signer)
    }

    /// `caBundle`: the `ca_bundle` setting (empty: `SSL_CERT_FILE` or the system's store).
    public static func httpEngine(connections: Int, caBundle: String = "") throws -> HTTPEngine {
        var configuration = HTTPEngineConfiguration()
        if !caBundle.isEmpty { configuration.caBundlePath = caBundle }
        configuration.maxConnectionsPerHost = max(16, connections)
        configuration.maxTotalConnections = max(32, connections * 2)
        do {
            return try HTTPEngine(configuration: configuration)
        } catch {
            if !caBundle.isEmpty {
                throw BlobferryError(.configuration, "ca_bundle (BLOBFERRY_CA_BUNDLE or AWS_CA_BUNDLE): \(error)")
            }
            throw BlobferryError(.failed, "cannot start the HTTP engine: \(error)")
        }
    }
}
