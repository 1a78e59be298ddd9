import BlobferryCrypto
import BlobferryHTTP
import Foundation

/// Why a credential source could not deliver: a message without any secret, and whether
/// asking again later may help (an unreachable endpoint) or not (a refusal).
public struct CredentialSourceError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var transient: Bool

    public init(_ message: String, transient: Bool = false) {
        self.message = message
        self.transient = transient
    }

    public var description: String { message }
}

/// Caches what a credential source returned and fetches again before it expires.
///
/// Why an actor: a consumer signs hundreds of requests at once and runs for days; one
/// fetch must serve them all, and a refresh must happen while the old credentials are still
/// good, in the background, so copying never pauses for it. A credential is refreshed once
/// it is within `refreshBefore` of its expiry (or within half its lifetime, for short ones);
/// if that refresh fails the cached value is used until it really expires.
public actor RefreshingCredentials<Value: Sendable> {
    /// What the source is called in logs ("container credentials", "managed identity").
    public nonisolated let sourceName: String
    private let fetch: @Sendable () async throws -> (Value, Date?)
    private let refreshBefore: TimeInterval
    private var current: (value: Value, expiration: Date?, fetched: Date)?
    private var pending: Task<(Value, Date?), any Error>?
    private var lastAttempt = Date.distantPast
    /// How many fetches were made (for logs and tests).
    public private(set) var fetches = 0

    public init(
        sourceName: String, refreshBefore: TimeInterval = 300,
        fetch: @escaping @Sendable () async throws -> (Value, Date?)
    ) {
        self.sourceName = sourceName
        self.refreshBefore = refreshBefore
        self.fetch = fetch
    }

    /// The current value, fetched or refreshed as needed.
    public func value() async throws -> Value {
        let now = Date()
        if let current {
            guard let expiration = current.expiration else { return current.value }
            let lifetime = expiration.timeIntervalSince(current.fetched)
            let window = min(refreshBefore, lifetime / 2)
            if expiration.timeIntervalSince(now) > window { return current.value }
            if expiration.timeIntervalSince(now) > min(1, window / 2) {
                // Still valid: refresh in the background, keep signing with what we have
                // (a failed refresh is tried again a second later, not on every request).
                if now.timeIntervalSince(lastAttempt) >= 1 { startFetch() }
                return current.value
            }
        }
        let task = startFetch()
        let (value, _) = try await task.value
        return value
    }

    @discardableResult
    private func startFetch() -> Task<(Value, Date?), any Error> {
        if let pending { return pending }
        lastAttempt = Date()
        let fetch = self.fetch
        let task = Task<(Value, Date?), any Error> {
            let result = try await fetch()
            self.store(result)
            return result
        }
        pending = task
        Task {
            _ = try? await task.value; self.clearPending()
        }
        return task
    }

    private func store(_ result: (Value, Date?)) {
        current = (result.0, result.1, Date())
        fetches += 1
    }

    private func clearPending() { pending = nil }
}
