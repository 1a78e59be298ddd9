import BlobferryRedis

/// One page of a partition's deleted set (keys the last completed pass did not list).
public struct DeletedPage: Sendable {
    public var partition: String
    public var keys: [String]
    /// The SSCAN cursor to read the next page from; "0" once the set is read.
    public var cursor: String
}

extension JobStore {
    /// The job's partition scheme as the producer recorded it (the deleted sets are kept
    /// per partition, whatever units the listing used).
    public func recordedScheme() async throws -> PartitionScheme {
        let fields = try await existingMetaFields()
        return try PartitionScheme(parsing: JobMeta(fields: fields).partitions)
    }

    /// One page (about `count` keys) of `partition`'s deleted set from `cursor` ("0" = the
    /// start). A key may come twice across pages if the set changes meanwhile (SSCAN's rule).
    public func deletedPage(partition: String, cursor: String, count: Int = 1000) async throws -> DeletedPage {
        let page = try await setScanPage(
            keys.deletedInSource(partition), cursor: cursor, count: count, what: "SSCAN deleted")
        return DeletedPage(partition: partition, keys: page.members, cursor: page.cursor)
    }

    /// Up to `count` keys still in `partition`'s deleted set (any of them: the caller
    /// forgets each batch it handles, so asking again yields the next ones).
    public func someDeleted(partition: String, count: Int) async throws -> [String] {
        let key = keys.deletedInSource(partition)
        return try await runIdempotent { connection in
            try connection.send("SRANDMEMBER", RedisArgument(key), RedisArgument(count))
                .decodeStrings("SRANDMEMBER deleted")
        }
    }

    /// Forgets keys whose S3 objects were deleted: out of the deleted, done and unseen sets
    /// of `partition`, counted in `deleted_from_s3`. Safe to replay.
    @discardableResult
    public func forgetDeleted(partition: String, keys forgotten: [String]) async throws -> Int {
        guard !forgotten.isEmpty else { return 0 }
        let keys = self.keys
        return try await runIdempotent { connection in
            try connection.evalScript(
                QueueScripts.forgetDeleted,
                keys: [
                    RedisArgument(keys.stats), RedisArgument(keys.deletedInSource(partition)),
                    RedisArgument(keys.done(partition)), RedisArgument(keys.unseen(partition)),
                ],
                arguments: forgotten.map { RedisArgument($0) }
            ).decodeInt("forgetDeleted script")
        }
    }
}
