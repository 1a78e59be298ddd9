/// The one error type the executables turn into a single stderr line and an exit code.
///
/// Every failure a user can act on (a setting, credentials, a missing container, an
/// unreachable service) is classified by `code`, so the exit status tells scripts what went
/// wrong without parsing text, and `message` names the problem without any secret in it.
public struct BlobferryError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure, and the process exit status it maps to.
    public enum Code: Int32, Sendable {
        /// A missing or invalid setting (exit 2).
        case configuration = 2
        /// Azure or S3 rejected the credentials (exit 3).
        case credentials = 3
        /// The container, bucket or job does not exist (exit 4).
        case notFound = 4
        /// Redis, Azure or S3 could not be reached in time (exit 5).
        case unreachable = 5
        /// Anything else that stopped the run (exit 1).
        case failed = 1
    }

    public var code: Code
    public var message: String
    /// The lower-level error, kept for logs at debug level.
    public var underlying: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, underlying: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String { message }
    public var exitCode: Int32 { code.rawValue }
}
