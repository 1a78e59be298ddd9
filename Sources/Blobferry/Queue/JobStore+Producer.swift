import BlobferryRedis
import Foundation

/// What became of one listed page.
public enum EnqueueResult: Sendable, Equatable {
    case enqueued(count: Int, queueLength: Int)
    /// Redis's cursor is not where this producer left it (a write lost in a Redis restart):
    /// resume from the marker Redis has.
    case cursorElsewhere(String)
}

/// Where a partition's listing stands at the start of a run.
public struct ListingPosition: Sendable, Equatable {
    /// Fully listed in this pass: nothing to do.
    public var isListed: Bool
    /// The marker to resume from ("" = from the start).
    public var marker: String
}

extension JobStore {
    /// The `meta` field holding pass `pass`'s start by Azure's clock (seconds since the
    /// epoch): the earliest `Date` of its List Blobs responses, kept by the enqueue script.
    /// One field per pass, so starting the next pass only reads it (a retried start finds
    /// it unchanged).
    static func azureStartField(pass: Int) -> String { "pass_\(pass)_azure_start" }

    /// Starts or resumes a listing pass. A run after a completed pass starts a new one, a
    /// delta pass: new blobs are found, and a done blob whose Last-Modified is at or after
    /// the previous pass's start (by Azure's clock) is copied again; the done sets keep the
    /// others from being copied again. A run after an interrupted pass resumes it from the
    /// saved markers, with the same threshold (`meta.delta_since`).
    /// Returns the pass number, whether it resumes, and the delta threshold (nil for a
    /// first pass, or when the previous pass recorded no Azure start).
    public func beginListing(settings: Settings, scheme: PartitionScheme) async throws -> (
        pass: Int, resumed: Bool, changedSince: Date?
    ) {
        let keys = self.keys
        let wanted = JobMeta(settings: settings)
        let fields = try await metaFields()
        let previousUnits = try await listingUnitIDs()
        if !fields.isEmpty {
            try JobMeta(fields: fields).checkCompatible(with: settings, role: .producer)
        }
        let current = JobMeta(fields: fields)
        if current.producerState == .listing {
            return (
                current.pass, true, fields["delta_since"].flatMap(Double.init).map(Date.init(timeIntervalSince1970:))
            )
        }
        let pass = current.pass + 1
        let since = fields[Self.azureStartField(pass: current.pass)]
        let now = ISO8601DateFormatter().string(from: Date())
        try await runIdempotent { connection in
            var commands: [[RedisArgument]] = [
                [
                    "DEL", RedisArgument(keys.listedPartitions), RedisArgument(keys.listedCounts),
                    RedisArgument(keys.listedSizes),
                ],
                ["HSET", RedisArgument(keys.stats), "listed", "0", "enqueued", "0", "skipped", "0", "changed", "0"],
            ]
            // The previous pass's listing units (and a whole partition's cursor of old).
            for unit in Set(previousUnits + scheme.partitions) {
                commands.append(["DEL", RedisArgument(keys.cursor(unit)), RedisArgument(keys.unitListed(unit))])
            }
            for partition in scheme.partitions {
                // What the pass does not list of what is done now was deleted in Azure.
                // (COPY leaves the target alone when the done set does not exist: DEL first.)
                commands.append(["DEL", RedisArgument(keys.unseen(partition))])
                commands.append([
                    "COPY", RedisArgument(keys.done(partition)), RedisArgument(keys.unseen(partition)),
                ])
            }
            commands.append(["DEL", RedisArgument(keys.units)])
            var fields = wanted.bindingFields()
            fields += [("partitions", wanted.partitions), ("pass", String(pass)), ("listing_started", now)]
            fields += wanted.filter.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            fields.append(("delta_since", since ?? ""))
            commands.append(
                ["HSET", RedisArgument(keys.meta)] + fields.flatMap { [RedisArgument($0.0), RedisArgument($0.1)] })
            commands.append(["HSETNX", RedisArgument(keys.meta), "created", RedisArgument(now)])
            // Last: only once everything above is in place does the pass count as started.
            commands.append([
                "HSET", RedisArgument(keys.meta), "producer", RedisArgument(ProducerState.listing.rawValue),
            ])
            _ = try connection.pipelineOrThrow(commands)
        }
        return (pass, false, since.flatMap(Double.init).map(Date.init(timeIntervalSince1970:)))
    }

    /// Takes names the listing filter left out of the partition's unseen set: they exist in
    /// Azure, so a pass must not report them deleted (a blob copied before and now outside
    /// a `modified_before` bound). Called before the page's enqueue, so a producer killed in
    /// between lists the page again and repeats this harmlessly.
    public func markSeen(partition: String, names: [String]) async throws {
        guard !names.isEmpty else { return }
        let key = RedisArgument(keys.unseen(partition))
        let commands = stride(from: 0, to: names.count, by: 1000).map { start in
            [RedisArgument("SREM"), key] + names[start..<min(start + 1000, names.count)].map { RedisArgument($0) }
        }
        _ = try await runIdempotent { try $0.pipelineOrThrow(commands) }
    }

    /// Pushes one listed page's keys (those not yet done, and `changed` ones even if done)
    /// and saves the next marker, in one atomic step, if `producer` holds the lease and the
    /// cursor is at `marker`. `listedAt` (the page's `Date`) lowers pass `pass`'s Azure start.
    /// `keys` and `changed` are disjoint: `changed` are the names whose Last-Modified is at
    /// or after the previous pass's start.
    /// `unit`: the listing unit the page belongs to (its cursor moves, and its `listed` set
    /// gets the partition at the end); nil for a whole partition (cursor named after it, and
    /// the job's `listed` set).
    public func enqueuePage(
        producer: String, partition: String, unit: String? = nil, from marker: String, next nextMarker: String?,
        keys pageKeys: [String], changed: [String] = [], pass: Int = 1, listedAt: Date? = nil,
        sizes: PageSizes = PageSizes()
    ) async throws -> EnqueueResult {
        let listedSeconds = listedAt.map { String(Int64($0.timeIntervalSince1970.rounded(.down))) } ?? ""
        let keys = self.keys
        let reply = try await run { connection in
            try connection.evalScript(
                QueueScripts.enqueuePage,
                keys: [
                    RedisArgument(keys.queue(partition)), RedisArgument(keys.done(partition)),
                    RedisArgument(keys.cursor(unit ?? partition)), RedisArgument(keys.stats),
                    RedisArgument(unit.map(keys.unitListed) ?? keys.listedPartitions), RedisArgument(keys.listedCounts),
                    RedisArgument(keys.producerLease), RedisArgument(keys.changed(partition)),
                    RedisArgument(keys.meta), RedisArgument(keys.listedSizes), RedisArgument(keys.unseen(partition)),
                ],
                arguments: [
                    RedisArgument(partition), RedisArgument(marker), RedisArgument(nextMarker ?? ""),
                    RedisArgument(producer), RedisArgument(Self.azureStartField(pass: pass)),
                    RedisArgument(listedSeconds), RedisArgument(changed.count), RedisArgument(sizes.bytes),
                    RedisArgument(sizes.nameBytes), RedisArgument(sizes.medium), RedisArgument(sizes.large),
                    RedisArgument(sizes.parts),
                ] + changed.map { RedisArgument($0) } + pageKeys.map { RedisArgument($0) })
        }
        let values = try reply.decodeArray("enqueuePage script")
        switch try values.first?.decodeInt("enqueuePage script") {
        case 1 where values.count == 3:
            return .enqueued(
                count: try values[1].decodeInt("enqueuePage script"),
                queueLength: try values[2].decodeInt("enqueuePage script"))
        case 0 where values.count == 2:
            return .cursorElsewhere(try values[1].decodeString("enqueuePage script"))
        default:
            throw BlobferryError(.failed, "unexpected reply to the enqueuePage script")
        }
    }

    /// Takes or renews the job's producer lease for `producer`; false if another producer
    /// run holds it.
    public func holdProducerLease(_ producer: String, seconds: Double) async throws -> Bool {
        try await producerLease(producer, seconds: seconds, action: "hold")
    }

    /// Gives the lease up (a clean exit), if `producer` holds it.
    public func releaseProducerLease(_ producer: String) async throws {
        _ = try await producerLease(producer, seconds: 0, action: "release")
    }

    private func producerLease(_ producer: String, seconds: Double, action: String) async throws -> Bool {
        let key = keys.producerLease
        return try await runIdempotent { connection in
            try connection.evalScript(
                QueueScripts.producerLease, keys: [RedisArgument(key)],
                arguments: [RedisArgument(producer), RedisArgument(max(1, Int(seconds * 1000))), RedisArgument(action)]
            ).decodeInt("producerLease script") == 1
        }
    }

    /// Keys waiting in `partition`'s queue (the producer's back-pressure reads this).
    public func queueLength(of partition: String) async throws -> Int {
        let key = keys.queue(partition)
        return try await runIdempotent { try $0.send("LLEN", RedisArgument(key)).decodeInt("LLEN queue") }
    }

    /// Marks the pass complete (consumers may now exit once the queues drain) and turns
    /// each partition's unseen set into its deleted set. Returns the keys deleted in Azure
    /// since they were copied.
    @discardableResult
    public func finishListing(scheme: PartitionScheme) async throws -> Int {
        let keys = self.keys
        let now = ISO8601DateFormatter().string(from: Date())
        var scriptKeys = [RedisArgument(keys.meta), RedisArgument(keys.stats)]
        for partition in scheme.partitions {
            scriptKeys += [RedisArgument(keys.unseen(partition)), RedisArgument(keys.deletedInSource(partition))]
        }
        let finalKeys = scriptKeys
        return try await runIdempotent { connection in
            try connection.evalScript(QueueScripts.finishPass, keys: finalKeys, arguments: [RedisArgument(now)])
                .decodeInt("finishPass script")
        }
    }

    /// Records what this process is configured for as the job's binding (a consumer binds
    /// the destination when the producer ran without one; `rebind` moves the job).
    public func bind(_ meta: JobMeta) async throws {
        let key = keys.meta
        let fields = meta.bindingFields().flatMap { [RedisArgument($0.0), RedisArgument($0.1)] }
        _ = try await runIdempotent { try $0.send(["HSET", RedisArgument(key)] + fields) }
    }

    /// The job's meta hash; throws `.notFound` for a job no producer has created, the one
    /// line every admin command gives for a mistyped job name.
    public func existingMetaFields() async throws -> [String: String] {
        let fields = try await metaFields()
        guard !fields.isEmpty else {
            throw BlobferryError(.notFound, "job '\(keys.job)' does not exist in Redis (run the producer first)")
        }
        return fields
    }

    /// The job's meta hash as stored (empty before the first producer run).
    public func metaFields() async throws -> [String: String] {
        let key = keys.meta
        return try await runIdempotent { try $0.send("HGETALL", RedisArgument(key)).decodeHash("HGETALL meta") }
    }
}
