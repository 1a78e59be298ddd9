/// Every failure of the Redis layer, with a `Code` callers can switch on (retry, exit with
/// one clear line, or report a bug) and a human message for logs.
///
/// Messages never contain a password or the URL: URL errors describe what is wrong, and
/// callers that log connection errors add `RedisConfiguration.redactedURL` themselves.
public struct RedisError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure happened, which decides what a caller can do about it.
    public enum Code: Sendable, Hashable {
        /// The Redis URL could not be parsed or uses something unsupported (e.g. `rediss://`).
        case invalidURL
        /// No connection could be made (or re-made within `reconnectWindow`).
        case connectionFailed
        /// The connection broke during a command; the command may or may not have run.
        case connectionLost
        /// The server did not answer within `commandTimeout`; the command may or may not have run.
        case timeout
        /// AUTH was refused (wrong password, unknown or disabled user).
        case authenticationFailed
        /// Redis answered with an error reply; `message` is its text, e.g. "WRONGTYPE ...".
        case serverError
        /// The reply could not be understood, or a command could not be sent as given.
        case protocolError
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "Redis \(code): \(message)" }
}
