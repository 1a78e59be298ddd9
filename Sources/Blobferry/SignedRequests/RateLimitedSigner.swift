import Foundation

/// Takes one request token from a rate limit shared by every consumer, then lets the
/// inner signer sign. A signer is the one step every request of a client passes just
/// before it is sent, so wrapping it puts the limit on each request (GETs, PUTs, parts,
/// listings) without touching the clients.
struct RateLimitedSigner: RequestSigner {
    let limit: SharedRateLimit
    let inner: any RequestSigner

    func sign(_ request: inout SignableRequest) async throws {
        try await limit.admit()
        try await inner.sign(&request)
    }
}

/// One side's request-rate limit, shared through a token bucket in Redis (the
/// `takeTokens` script). Tokens are taken in batches of about a fiftieth of a second's
/// worth, so the limit costs one Redis round trip per batch, not per request; what one
/// process holds unused at most is that batch. A live limit (`blobferry limits`, read from
/// `control`) overrides the configured rate while it is set; with neither, requests pass.
actor SharedRateLimit {
    private let store: JobStore
    private let side: String
    private let configured: Double
    private let control: LiveControl?
    private var tokens = 0

    init(store: JobStore, side: String, requestsPerSecond rate: Double, control: LiveControl? = nil) {
        self.store = store
        self.side = side
        self.configured = rate
        self.control = control
    }

    /// The rate in force now: the live limit of this side, else the setting (0 = none).
    private var rate: Double {
        let live = control?.current
        return (side == "azure" ? live?.sourceRequestsPerSecond : live?.destinationRequestsPerSecond) ?? configured
    }

    /// Waits until this process may send one more request.
    func admit() async throws {
        while tokens == 0 {
            // A setting of 1e300 means "no real limit": keep the token arithmetic in Int.
            let rate = min(self.rate, JobControl.maximumRate)
            guard rate > 0 else { return }
            let batch = max(1, min(64, Int(rate / 50)))
            let burst = max(batch, Int(rate / 10))
            let (granted, wait) = try await store.takeRequestTokens(
                side: side, perSecond: rate, burst: burst, wanted: batch)
            // Another caller may have refilled while this one waited for Redis (actor
            // reentrancy): keep both grants.
            tokens += granted
            if tokens == 0 { try await Task.sleep(nanoseconds: UInt64(max(wait, 0.001) * 1_000_000_000)) }
        }
        tokens -= 1
    }
}
