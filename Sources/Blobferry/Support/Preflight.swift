import Logging

/// Start-up checks shared by the producer, the consumer and `verify`: each proves the
/// credentials work and the container or bucket exists before any key moves, riding out a
/// briefly busy service, and turns a failure into the one line that names what to fix.
enum Preflight {
    static func checkSource(_ azure: AzureBlobClient, logger: Logger) async throws {
        try await check(
            "source container '\(azure.container)'",
            credentials: "AZURE_STORAGE_KEY / AZURE_STORAGE_SAS_TOKEN / AZURE_STORAGE_CONNECTION_STRING", logger: logger
        ) { try await azure.checkAccess() }
    }

    static func checkDestination(_ s3: S3Client, logger: Logger) async throws {
        try await check(
            "destination bucket '\(s3.bucket)'", credentials: s3.credentialsHint, logger: logger
        ) { try await s3.checkAccess() }
    }

    private static func check(
        _ what: String, credentials: String, logger: Logger, _ probe: @Sendable () async throws -> Void
    ) async throws {
        do {
            try await RetryPolicy.startup.run(logger: logger, what: "checking the \(what)") {
                do {
                    try await probe()
                } catch let error as RemoteError where error.untrustedCertificate {
                    throw Untrusted(error: error)  // not retried
                }
            }
        } catch let error as RemoteError {
            throw error.asStartupError(what: what, credentials: credentials)
        } catch let untrusted as Untrusted {
            throw untrusted.error.asStartupError(what: what, credentials: credentials)
        }
    }

    /// A certificate problem, carried past the retries.
    private struct Untrusted: Error {
        let error: RemoteError
    }
}
