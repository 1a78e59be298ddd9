/// An error from this module: a bad key or an unsupported signing version.
///
/// Callers show the message to a person configuring credentials, so it says what is wrong
/// and never quotes the secret that was rejected.
public struct CryptoError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A human-readable explanation; never contains key material.
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
