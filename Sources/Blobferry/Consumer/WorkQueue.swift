/// What the copy loop needs from the job's shared state: one consumer run's view of the
/// queue protocol. `RedisWorkQueue` is the real one; tests drive the loop with fakes that
/// fail a claim mid-batch or lose a lease, without Redis or child processes.
protocol WorkQueue: Sendable {
    /// Claims up to `batch` keys, taking from the partitions in turn starting at `start`.
    func claim(batch: Int, start: Int) async throws -> [ClaimedKey]
    /// Records outcomes; safe to repeat after a lost reply.
    func acknowledge(_ outcomes: [(ClaimedKey, CopyOutcome)]) async throws
    /// Hands keys back to their queues without counting an attempt; returns how many this
    /// run still held.
    @discardableResult func release(_ items: [ClaimedKey]) async throws -> Int
    /// Hands keys back with an attempt counted (to `failed` with `reason` when out of
    /// attempts).
    @discardableResult func countAttempts(_ items: [(ClaimedKey, reason: String)]) async throws -> (
        requeued: Int, failed: Int
    )
    /// What the shared state holds as this run's claims.
    func heldClaims() async throws -> [ClaimedKey]
    /// Where the job stands (decides "complete").
    func progress() async throws -> JobProgress
    /// Renews this run's lease and, with `reap`, returns expired consumers' claims.
    func heartbeat(reap: Bool) async throws -> HeartbeatResult
    /// Changes whenever the connection was re-established (replies may have been lost).
    func connectionGeneration() async throws -> Int
    /// A clean exit (only once nothing is held).
    func leave() async throws
    /// How many partitions `claim` rotates over.
    var partitionCount: Int { get }
}

/// Copies one claimed key, and re-checks access when keys keep being refused.
protocol KeyCopier: Sendable {
    func copy(_ item: ClaimedKey) async -> CopyResult
    /// The start-up checks again (list the container, head the bucket): tells refusals of
    /// some keys (a bucket policy on one prefix) from credentials that stopped working.
    func checkAccess() async throws
}

/// The queue protocol in Redis, for one consumer run.
struct RedisWorkQueue: WorkQueue {
    let store: JobStore
    let runID: String
    let partitions: [String]
    let leaseSeconds: Double
    let maxAttempts: Int

    var partitionCount: Int { partitions.count }

    func claim(batch: Int, start: Int) async throws -> [ClaimedKey] {
        try await store.claim(
            consumer: runID, leaseSeconds: leaseSeconds, batch: batch, partitions: partitions, start: start)
    }

    func acknowledge(_ outcomes: [(ClaimedKey, CopyOutcome)]) async throws {
        try await store.acknowledge(consumer: runID, outcomes)
    }

    func release(_ items: [ClaimedKey]) async throws -> Int {
        try await store.release(consumer: runID, items)
    }

    func countAttempts(_ items: [(ClaimedKey, reason: String)]) async throws -> (requeued: Int, failed: Int) {
        try await store.countAttempts(consumer: runID, maxAttempts: maxAttempts, items)
    }

    func heldClaims() async throws -> [ClaimedKey] { try await store.claims(of: runID) }

    func progress() async throws -> JobProgress { try await store.progress(partitions: partitions) }

    func heartbeat(reap: Bool) async throws -> HeartbeatResult {
        try await store.heartbeat(consumer: runID, leaseSeconds: leaseSeconds, maxAttempts: maxAttempts, reap: reap)
    }

    func connectionGeneration() async throws -> Int { try await store.reconnectCount() }

    func leave() async throws { try await store.leave(consumer: runID) }
}
