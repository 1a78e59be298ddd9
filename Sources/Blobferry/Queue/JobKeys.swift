import BlobferryRedis

/// The Redis key layout of one job, in one place (the README documents it for redis-cli
/// users; it is a contract). Every key lives under `blobferry:<job>:`.
public struct JobKeys: Sendable {
    public let job: String
    /// `blobferry:<job>:`
    public let base: String

    public init(job: String) {
        self.job = job
        self.base = "blobferry:\(job):"
    }

    /// HASH: source, container, bucket, prefix, partition scheme, created, producer state.
    public var meta: String { base + "meta" }
    /// ZSET: consumer id -> lease expiry (ms since epoch, Redis server clock).
    public var consumers: String { base + "consumers" }
    /// ZSET: consumer runs reaped while away -> when (kept a day), so a run that comes back
    /// learns its lease lapsed.
    public var reaped: String { base + "reaped" }
    /// HASH: key -> last error, for keys that exhausted their attempts.
    public var failed: String { base + "failed" }
    /// SET: keys deleted from Azure after they were listed (the copy found no blob), until
    /// a later pass copies them: the list `blobferry report` gives.
    public var vanished: String { base + "vanished" }
    /// HASH: listed, skipped, enqueued, changed, copied, deleted_in_source, deleted_from_s3, bytes, recopied, recopied_bytes, vanished, directory_markers,
    /// skipped_existing, failed, requeued, requeued_failed, skipped_at_claim, first_copy_ms,
    /// last_copy_ms.
    public var stats: String { base + "stats" }
    /// STRING: the run id of the producer allowed to list, with a TTL it keeps renewing.
    public var producerLease: String { base + "producer-lease" }
    /// HASH: `tokens`, `ms`: the request-rate bucket every consumer shares for one side
    /// (`azure` or `s3`), when a rate limit is set.
    public func rateBucket(_ side: String) -> String { base + "rate:" + side }
    /// HASH: key -> attempts used so far (lease expiries, refusals, and for a failed key the
    /// claim that failed it); kept for failed keys until requeue-failed or a copy.
    public var attempts: String { base + "attempts" }
    /// SET: partitions fully listed in the current pass.
    public var listedPartitions: String { base + "listed" }
    /// HASH: 5-second slot (Redis server time / 5 s) -> keys copied in it; the acknowledge
    /// script adds to it and drops slots older than a minute, `status` reads the last minute.
    public var copyRate: String { base + "copy-rate" }
    /// HASH: partition -> keys listed in the current pass.
    public var listedCounts: String { base + "listed-count" }
    /// HASH: what the current pass listed per partition, for `blobferry estimate`:
    /// `bytes:<P>` (blob sizes), `names:<P>` (key bytes), `pages:<P>` (List Blobs calls),
    /// `medium:<P>` (blobs larger than a consumer's first read, read in two GETs),
    /// `large:<P>` (blobs above the multipart threshold) and `parts:<P>` (their parts).
    public var listedSizes: String { base + "listed-size" }
    /// HASH: key -> partition, the claims of one consumer not yet acknowledged.
    public func inflight(_ consumer: String) -> String { base + "inflight:" + consumer }
    /// LIST: keys waiting to be copied (producer LPUSH, consumers RPOP).
    public func queue(_ partition: String) -> String { base + "p:" + partition + ":queue" }
    /// SET: keys already migrated.
    public func done(_ partition: String) -> String { base + "p:" + partition + ":done" }
    /// SET: done keys a delta pass found changed in Azure (Last-Modified at or after the
    /// previous pass's start) and not yet copied again: the claim, requeue and reap scripts
    /// let a key through while it is here although it is in `done`; the copy's
    /// acknowledgement removes it. Empty once the pass's re-copies are done.
    public func changed(_ partition: String) -> String { base + "p:" + partition + ":changed" }
    /// SET: done keys the current pass has not listed yet. A new pass starts it as a copy of
    /// the done set; the enqueue script removes every key it is given; what is left when
    /// the pass's listing completes was deleted in Azure (it becomes `deleted`).
    public func unseen(_ partition: String) -> String { base + "p:" + partition + ":unseen" }
    /// SET: done keys the last completed pass did not list: deleted in Azure since they
    /// were copied (`blobferry deleted` lists them, `blobferry delete-removed` deletes their
    /// objects from S3).
    public func deletedInSource(_ partition: String) -> String { base + "p:" + partition + ":deleted" }
    /// HASH: listing unit id -> its definition (JSON: partition, prefix, lower, upper,
    /// depth, splits) in the current pass; a split rewrites its parent and adds its children
    /// in one script, before the parent's cursor moves.
    public var units: String { base + "units" }
    /// STRING: a listing unit's marker to resume from; `done` once the unit is listed. A
    /// partition's root unit is named after the partition (`unit:A:cursor`).
    public func cursor(_ unit: String) -> String { base + "unit:" + unit + ":cursor" }
    /// SET: holds the unit's partition once the unit is fully listed (the enqueue script adds
    /// it where it adds a partition to `listed` for a whole-partition call).
    public func unitListed(_ unit: String) -> String { base + "unit:" + unit + ":listed" }
}
