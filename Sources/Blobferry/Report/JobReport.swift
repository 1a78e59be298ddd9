import BlobferryRedis
import Foundation

/// What `blobferry report` wrote, for its summary line.
public struct ReportCounts: Sendable, Equatable {
    public var failed = 0
    public var vanished = 0
    public var partitions = 0
}

extension JobStore {
    /// The columns of `blobferry report`. Each record has a `record` kind: `timing` and
    /// `total` (`name`, `value`), `partition` (`partition`, `listed`, `listed_bytes`,
    /// `queued`, `done`), `failed` (`key`, `partition`, `reason`, `attempts`) and `vanished`
    /// (`key`, `partition`).
    public static let reportColumns = [
        "record", "name", "value", "partition", "listed", "listed_bytes", "queued", "done", "key", "reason",
        "attempts",
    ]

    /// Writes the closing record of the job through `writer`, one line at a time to
    /// `output`: timings, totals, per-partition counts, then every failed key with its reason
    /// and attempts and every vanished key, read with HSCAN/SSCAN a page at a time (memory
    /// stays at one page, whatever the number of keys).
    public func writeReport(writer: RecordWriter, output: (String) throws -> Void) async throws -> ReportCounts {
        let metaHash = try await existingMetaFields()
        let scheme = try PartitionScheme(parsing: JobMeta(fields: metaHash).partitions)
        let status = try await status(job: keys.job)
        let listed = try await listedSizes()
        let statsKey = keys.stats
        let stats = try await runIdempotent {
            try $0.send("HGETALL", RedisArgument(statsKey)).decodeHash("HGETALL stats")
        }
        var counts = ReportCounts()
        if let header = writer.header { try output(header) }

        for (name, value) in Self.timings(meta: metaHash, stats: stats, complete: status.complete) {
            try output(writer.line([("record", .text("timing")), ("name", .text(name)), ("value", value)]))
        }
        let totals: [(String, Int)] = [
            ("listed", status.listed), ("skipped", status.skipped), ("queued", status.queued),
            ("inflight", status.inflight), ("copied", status.copied), ("bytes", status.bytes),
            ("recopied", status.recopied), ("recopied_bytes", status.recopiedBytes), ("failed", status.failed),
            ("vanished", status.vanished), ("directory_markers", status.directoryMarkers),
            ("skipped_existing", status.skippedExisting), ("requeued", status.requeued),
            ("listed_bytes", listed.sizes.bytes), ("consumers", status.consumers), ("pass", status.pass),
            ("complete", status.complete ? 1 : 0),
        ]
        for (name, value) in totals {
            try output(writer.line([("record", .text("total")), ("name", .text(name)), ("value", .integer(value))]))
        }
        for partition in status.partitions {
            counts.partitions += 1
            try output(
                writer.line([
                    ("record", .text("partition")), ("partition", .text(partition.name)),
                    ("listed", .integer(partition.listed)),
                    ("listed_bytes", .integer(listed.bytesByPartition[partition.name] ?? 0)),
                    ("queued", .integer(partition.queued)), ("done", .integer(partition.done)),
                ]))
        }

        let (failedKey, attemptsKey, vanishedKey) = (keys.failed, keys.attempts, keys.vanished)
        var cursor = "0"
        repeat {
            let from = cursor
            let page = try await runIdempotent { connection in
                let page = try Self.scanPage(
                    connection.send("HSCAN", RedisArgument(failedKey), RedisArgument(from), "COUNT", "1000"),
                    "HSCAN failed")
                guard !page.pairs.isEmpty else { return (page.cursor, [(String, String, Int)]()) }
                let attempts = try connection.send(
                    ["HMGET", RedisArgument(attemptsKey)] + page.pairs.map { RedisArgument($0.0) }
                ).decodeArray("HMGET attempts")
                let rows = try zip(page.pairs, attempts).map { pair, reply in
                    (pair.0, pair.1, Int(try reply.decodeOptionalString("HMGET attempts") ?? "") ?? 0)
                }
                return (page.cursor, rows)
            }
            cursor = page.0
            for (key, reason, attempts) in page.1 {
                counts.failed += 1
                try output(
                    writer.line([
                        ("record", .text("failed")), ("key", .text(key)),
                        ("partition", .text(scheme.partition(of: key))),
                        ("reason", .text(reason)), ("attempts", .integer(attempts)),
                    ]))
            }
        } while cursor != "0"
        repeat {
            let page = try await setScanPage(vanishedKey, cursor: cursor, what: "SSCAN vanished")
            cursor = page.cursor
            for key in page.members {
                counts.vanished += 1
                try output(
                    writer.line([
                        ("record", .text("vanished")), ("key", .text(key)),
                        ("partition", .text(scheme.partition(of: key))),
                    ]))
            }
        } while cursor != "0"
        return counts
    }

    /// Start (`created`: the first producer run), the current pass's listing start and end,
    /// the first and last copy, completion (the later of the listing's end and the last
    /// copy, once the job is complete) and the duration from start to completion (or to now).
    static func timings(meta: [String: String], stats: [String: String], complete: Bool)
        -> [(String, RecordValue)]
    {
        let iso = ISO8601DateFormatter()
        func date(_ text: String?) -> Date? { text.flatMap { iso.date(from: $0) } }
        func millis(_ text: String?) -> Date? {
            text.flatMap(Double.init).map { Date(timeIntervalSince1970: $0 / 1000) }
        }
        let created = date(meta["created"])
        let listingFinished = date(meta["listing_finished"])
        let lastCopy = millis(stats["last_copy_ms"])
        let completed = complete ? [listingFinished, lastCopy].compactMap { $0 }.max() : nil
        var rows: [(String, RecordValue)] = []
        let named: [(String, Date?)] = [
            ("started", created), ("listing_started", date(meta["listing_started"])),
            ("listing_finished", listingFinished), ("first_copy", millis(stats["first_copy_ms"])),
            ("last_copy", lastCopy), ("completed", completed),
        ]
        for (name, value) in named {
            if let value { rows.append((name, .text(iso.string(from: value)))) }
        }
        if let created {
            let end = completed ?? Date()
            rows.append(("duration_seconds", .decimal((end.timeIntervalSince(created) * 1000).rounded() / 1000)))
        }
        return rows
    }
}
