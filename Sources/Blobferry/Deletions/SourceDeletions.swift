import Foundation
import Logging

/// Blobs deleted in Azure since they were copied, and their objects in S3.
///
/// A completed pass leaves, per partition, the done keys it did not list (see `JobKeys.
/// deletedInSource`). This lists them (`blobferry deleted`) and, only when asked
/// (`blobferry delete-removed --apply`), deletes their objects from S3 in DeleteObjects
/// batches of up to 1,000, forgetting each batch in Redis once S3 confirmed it. A run
/// killed at any point is run again: a batch S3 deleted but Redis still lists is deleted
/// again (S3 answers "deleted" for a missing key) and forgotten then.
public struct SourceDeletions: Sendable {
    /// What `apply` did.
    public struct Outcome: Sendable, Equatable {
        public var deleted = 0
        /// Keys S3 refused to delete (still listed; the run goes on), with the last reason.
        public var refused = 0
        public var lastRefusal: String?
    }

    private let store: JobStore
    private let destinationPrefix: String
    private let logger: Logger

    public init(store: JobStore, destinationPrefix: String, logger: Logger) {
        self.store = store
        self.destinationPrefix = destinationPrefix
        self.logger = logger
    }

    private func refuseWhileListing() async throws {
        if JobMeta(fields: try await store.metaFields()).producerState == .listing {
            throw BlobferryError(
                .failed,
                "a pass of job '\(store.keys.job)' is listing: run delete-removed once it has completed (its deleted sets are replaced then)"
            )
        }
    }

    /// The S3 key of a blob name.
    public func objectKey(_ name: String) -> String { destinationPrefix + name }

    /// Calls `visit` with every key of every partition's deleted set, a page at a time.
    public func forEach(_ visit: ([String], String) throws -> Void) async throws {
        for partition in try await store.recordedScheme().partitions {
            var cursor = "0"
            repeat {
                let page = try await store.deletedPage(partition: partition, cursor: cursor)
                if !page.keys.isEmpty { try visit(page.keys, partition) }
                cursor = page.cursor
            } while cursor != "0"
        }
    }

    /// Deletes every listed key's object from S3 and forgets it in Redis. A key S3 refuses
    /// stays listed (counted in `refused`); the others go on.
    /// `settings`: checked against the job's binding first (bucket, prefix, endpoints), so a
    /// wrong bucket or prefix cannot delete someone else's objects.
    public func apply(
        s3: S3Client, settings: Settings, batch: Int = 1000, progress: (Outcome) -> Void = { _ in }
    ) async throws -> Outcome {
        try JobMeta(fields: try await store.metaFields()).checkCompatible(with: settings, role: .consumer)
        try await refuseWhileListing()
        var outcome = Outcome()
        let size = min(max(1, batch), 1000)
        for partition in try await store.recordedScheme().partitions {
            var refusedHere: Set<String> = []
            while true {
                // Refused keys stay in the set: ask for enough to get past them.
                let keys = try await store.someDeleted(partition: partition, count: size + refusedHere.count)
                    .filter { !refusedHere.contains($0) }.prefix(size)
                if keys.isEmpty { break }
                // A pass that started meanwhile may list a blob of this batch again: stop.
                try await refuseWhileListing()
                let byObject = Dictionary(keys.map { (objectKey($0), $0) }) { first, _ in first }
                let result = try await RetryPolicy(maxAttempts: 5).run(logger: logger, what: "DeleteObjects") {
                    try await s3.deleteObjects(keys: Array(byObject.keys))
                }
                let done = result.deleted.compactMap { byObject[$0] }
                outcome.deleted += try await store.forgetDeleted(partition: partition, keys: done)
                let handled = Set(done)
                for name in keys where !handled.contains(name) {
                    refusedHere.insert(name)
                    outcome.refused += 1
                    let code = result.errors[objectKey(name)] ?? "not reported as deleted"
                    outcome.lastRefusal = "\(objectKey(name).escapedForDisplay): \(code)"
                    logger.warning("S3 did not delete '\(objectKey(name).escapedForDisplay)': \(code)")
                }
                progress(outcome)
            }
        }
        return outcome
    }
}
