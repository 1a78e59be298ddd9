import BlobferryRedis

/// A key a consumer claimed, with the partition whose queue and done set it belongs to.
public struct ClaimedKey: Sendable, Hashable {
    public var key: String
    public var partition: String
    public init(key: String, partition: String) {
        self.key = key
        self.partition = partition
    }
}

/// How one copy ended, as the acknowledge script records it.
public enum CopyOutcome: Sendable, Equatable {
    case copied(bytes: Int)
    /// The blob was deleted from Azure after it was listed.
    case vanished
    /// A directory marker of a hierarchical-namespace account (`hdi_isfolder=true`):
    /// skipped and counted (`stats.directory_markers`), not copied.
    case directoryMarker
    /// `overwrite: never` and S3 already held an object under the key: left as it was,
    /// counted (`stats.skipped_existing`), not copied.
    case alreadyInBucket
    /// Out of attempts, or an error no retry fixes; `reason` lands in the failed hash.
    case failed(reason: String)
}

/// Where the producer's listing stands, as `meta.producer` spells it.
public enum ProducerState: String, Sendable, Codable, Equatable {
    case notStarted = "not started"
    case listing
    case listed
}

/// Where a job stands: what `complete` is computed from.
public struct JobProgress: Sendable, Equatable {
    public var producerState: ProducerState
    public var queued: Int
    public var inflight: Int
    public var failed: Int
    public var isComplete: Bool { producerState == .listed && queued == 0 && inflight == 0 }
}

/// What one heartbeat found.
public struct HeartbeatResult: Sendable, Equatable {
    /// Whether this consumer's lease had lapsed (or it had been reaped) before this
    /// heartbeat renewed it: its claims may be back in the queues and in other hands.
    public var lostLease: Bool
    public var expired: Int
    public var requeued: Int
    public var failed: Int
}

extension JobStore {
    /// How many partitions one claim script call looks at: a window, so a two-character
    /// scheme's 3,800 partitions do not all travel with every claim.
    static let claimWindow = 64

    /// Claims up to `batch` keys, taking from the partitions in turn starting at `start`,
    /// a window of partitions per round trip, until the batch is full or every partition
    /// was looked at once. A failure after some keys were claimed returns those keys (the
    /// next call surfaces the error again).
    public func claim(consumer: String, leaseSeconds: Double, batch: Int, partitions: [String], start: Int)
        async throws -> [ClaimedKey]
    {
        guard !partitions.isEmpty else { return [] }
        var claimed: [ClaimedKey] = []
        var offset = 0
        while offset < partitions.count, claimed.count < batch {
            let window = (offset..<min(offset + Self.claimWindow, partitions.count)).map {
                partitions[(start + $0) % partitions.count]
            }
            offset += window.count
            do {
                claimed += try await claimWindow(
                    consumer: consumer, leaseSeconds: leaseSeconds, batch: batch - claimed.count, window: window)
            } catch  where !claimed.isEmpty {
                return claimed
            }
        }
        return claimed
    }

    private func claimWindow(consumer: String, leaseSeconds: Double, batch: Int, window: [String]) async throws
        -> [ClaimedKey]
    {
        let keys = self.keys
        let scriptKeys =
            [keys.consumers, keys.inflight(consumer), keys.stats]
            + window.flatMap { [keys.queue($0), keys.done($0), keys.changed($0)] }
        let arguments = [consumer, String(Int(leaseSeconds * 1000)), String(batch)] + window
        let reply = try await run { connection in
            try connection.evalScript(
                QueueScripts.claim, keys: scriptKeys.map { RedisArgument($0) },
                arguments: arguments.map { RedisArgument($0) })
        }
        return try reply.decodePairs("claim script").map { ClaimedKey(key: $0.0, partition: $0.1) }
    }

    /// Records a batch of outcomes; safe to repeat after a lost reply.
    public func acknowledge(consumer: String, _ outcomes: [(ClaimedKey, CopyOutcome)]) async throws {
        guard !outcomes.isEmpty else { return }
        let keys = self.keys
        var scriptKeys = ScriptKeys([
            keys.inflight(consumer), keys.stats, keys.failed, keys.attempts, keys.copyRate, keys.vanished,
        ])
        var arguments: [RedisArgument] = []
        arguments.reserveCapacity(outcomes.count * 4)
        for (item, outcome) in outcomes {
            let done = RedisArgument(scriptKeys.slot(keys.done(item.partition), keys.changed(item.partition)))
            switch outcome {
            case .copied(let bytes): arguments += ["copied", RedisArgument(item.key), done, RedisArgument(bytes)]
            case .vanished: arguments += ["vanished", RedisArgument(item.key), done, ""]
            case .directoryMarker: arguments += ["marker", RedisArgument(item.key), done, ""]
            case .alreadyInBucket: arguments += ["existing", RedisArgument(item.key), done, ""]
            case .failed(let reason): arguments += ["failed", RedisArgument(item.key), done, RedisArgument(reason)]
            }
        }
        let (finalKeys, finalArguments) = (scriptKeys.keys, arguments)
        _ = try await runIdempotent { connection in
            try connection.evalScript(QueueScripts.acknowledge, keys: finalKeys, arguments: finalArguments)
        }
    }

    /// Puts claimed keys back at the back of their queues (no attempt counted). Returns how
    /// many this consumer still held.
    @discardableResult
    public func release(consumer: String, _ items: [ClaimedKey]) async throws -> Int {
        guard !items.isEmpty else { return 0 }
        let keys = self.keys
        var scriptKeys = ScriptKeys([keys.inflight(consumer)])
        var arguments: [RedisArgument] = []
        for item in items {
            arguments += [RedisArgument(item.key), RedisArgument(scriptKeys.slot(keys.queue(item.partition)))]
        }
        let (finalKeys, finalArguments) = (scriptKeys.keys, arguments)
        return try await runIdempotent { connection in
            try connection.evalScript(QueueScripts.release, keys: finalKeys, arguments: finalArguments)
                .decodeInt("release script")
        }
    }

    /// Hands keys back with an attempt counted for each (a refusal that may be specific to
    /// the key); a key out of attempts goes to `failed` with its reason.
    @discardableResult
    public func countAttempts(consumer: String, maxAttempts: Int, _ items: [(ClaimedKey, reason: String)])
        async throws -> (requeued: Int, failed: Int)
    {
        guard !items.isEmpty else { return (0, 0) }
        let keys = self.keys
        var scriptKeys = ScriptKeys([keys.inflight(consumer), keys.stats, keys.failed, keys.attempts])
        var arguments = [RedisArgument(maxAttempts)]
        for (item, reason) in items {
            let slot = scriptKeys.slot(
                keys.queue(item.partition), keys.done(item.partition), keys.changed(item.partition))
            arguments += [RedisArgument(item.key), RedisArgument(slot), RedisArgument(reason)]
        }
        let (finalKeys, finalArguments) = (scriptKeys.keys, arguments)
        let counts = try await runIdempotent { connection in
            try connection.evalScript(QueueScripts.countAttempts, keys: finalKeys, arguments: finalArguments)
                .decodeInts("countAttempts script")
        }
        guard counts.count == 2 else { throw BlobferryError(.failed, "unexpected reply to the countAttempts script") }
        return (counts[0], counts[1])
    }

    /// Extends `consumer`'s lease and, with `reap`, requeues the claims of consumers whose
    /// lease expired: their ids are read first, then their claims, then one script re-checks
    /// each consumer is still expired before it moves anything.
    public func heartbeat(consumer: String, leaseSeconds: Double, maxAttempts: Int, reap: Bool = true)
        async throws -> HeartbeatResult
    {
        let keys = self.keys
        let renewed = try await runIdempotent { connection in
            try connection.evalScript(
                QueueScripts.renewLease, keys: [RedisArgument(keys.consumers), RedisArgument(keys.reaped)],
                arguments: [RedisArgument(consumer), RedisArgument(Int(leaseSeconds * 1000)), 100]
            ).decodeArray("renewLease script")
        }
        guard let before = renewed.first else { throw BlobferryError(.failed, "empty reply to renewLease") }
        var result = HeartbeatResult(
            lostLease: try before.decodeInt("renewLease script") == 2, expired: 0, requeued: 0, failed: 0)
        let expired = try renewed.dropFirst().map { try $0.decodeString("renewLease script") }
        guard reap, !expired.isEmpty else { return result }
        let (expiredCount, requeued, failed) = try await reapConsumers(expired, maxAttempts: maxAttempts)
        result.expired = expiredCount
        result.requeued = requeued
        result.failed = failed
        return result
    }

    func reapConsumers(_ consumers: [String], maxAttempts: Int) async throws -> (Int, Int, Int) {
        let keys = self.keys
        let claims = try await runIdempotent { connection in
            try connection.pipelineOrThrow(consumers.map { ["HGETALL", RedisArgument(keys.inflight($0))] })
                .map { try $0.decodePairs("HGETALL of an inflight hash") }
        }
        var scriptKeys = ScriptKeys(
            [keys.consumers, keys.stats, keys.failed, keys.attempts, keys.reaped] + consumers.map { keys.inflight($0) })
        var arguments =
            [RedisArgument(maxAttempts), RedisArgument(consumers.count)] + consumers.map { RedisArgument($0) }
        for (index, held) in claims.enumerated() {
            for (key, partition) in held {
                let slot = scriptKeys.slot(keys.queue(partition), keys.done(partition), keys.changed(partition))
                arguments += [RedisArgument(index + 1), RedisArgument(key), RedisArgument(slot)]
            }
        }
        let (finalKeys, finalArguments) = (scriptKeys.keys, arguments)
        let counts = try await runIdempotent { connection in
            try connection.evalScript(QueueScripts.reap, keys: finalKeys, arguments: finalArguments)
                .decodeInts("reap script")
        }
        guard counts.count == 3 else { throw BlobferryError(.failed, "unexpected reply to the reap script") }
        return (counts[0], counts[1], counts[2])
    }

    /// Listing state, keys queued, in flight and failed, in one atomic step (the same one
    /// `status` uses). The consumers are read first and re-checked by the script; if they
    /// changed in between, it reads again.
    public func progress(partitions: [String]) async throws -> JobProgress {
        try await progressAndRate(partitions: partitions).progress
    }

    /// `progress`, plus the keys copied over the last minute from the rate ring (read by the
    /// same script, in the same atomic step): what `status` and the exporter show.
    public func progressAndRate(partitions: [String]) async throws -> (
        progress: JobProgress, ratePerSecond1m: Double
    ) {
        let keys = self.keys
        for _ in 0..<20 {
            let consumers = try await runIdempotent { connection in
                try connection.send("ZRANGE", RedisArgument(keys.consumers), "0", "-1").decodeStrings(
                    "ZRANGE consumers")
            }
            let scriptKeys =
                [keys.meta, keys.consumers, keys.failed, keys.copyRate] + partitions.map { keys.queue($0) }
                + consumers.map { keys.inflight($0) }
            let arguments = [String(partitions.count)] + consumers
            let values = try await runIdempotent { connection in
                try connection.evalScript(
                    QueueScripts.progress, keys: scriptKeys.map { RedisArgument($0) },
                    arguments: arguments.map { RedisArgument($0) }
                ).decodeArray("progress script")
            }
            guard values.count == 7 else { throw BlobferryError(.failed, "unexpected reply to the progress script") }
            guard try values[0].decodeInt("progress script") == 1 else { continue }
            let stateText = try values[1].decodeString("progress script")
            guard let state = ProducerState(rawValue: stateText) else {
                throw BlobferryError(.failed, "the job's producer state '\(stateText)' is unknown")
            }
            let progress = JobProgress(
                producerState: state, queued: try values[2].decodeInt("progress script"),
                inflight: try values[3].decodeInt("progress script"), failed: try values[4].decodeInt("progress script")
            )
            let recent = try values[5].decodeInt("progress script")
            let windowMs = try values[6].decodeInt("progress script")
            return (progress, Double(recent) / max(1, Double(windowMs) / 1000))
        }
        throw BlobferryError(.failed, "consumers kept joining and leaving while progress was read; try again")
    }

    /// The keys Redis holds as this consumer's claims.
    public func claims(of consumer: String) async throws -> [ClaimedKey] {
        let key = keys.inflight(consumer)
        return try await runIdempotent { connection in
            try connection.send("HGETALL", RedisArgument(key)).decodePairs("HGETALL of an inflight hash")
                .map { ClaimedKey(key: $0.0, partition: $0.1) }
        }
    }

    /// Removes a consumer that holds no claims from the consumers set (a clean exit), in
    /// one atomic step. Returns whether it left.
    @discardableResult
    public func leave(consumer: String) async throws -> Bool {
        let keys = self.keys
        return try await runIdempotent { connection in
            try connection.evalScript(
                QueueScripts.leave, keys: [RedisArgument(keys.consumers), RedisArgument(keys.inflight(consumer))],
                arguments: [RedisArgument(consumer)]
            ).decodeInt("leave script") == 1
        }
    }
}
