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
    /// Out of attempts, or an error no retry fixes; `reason` lands in the failed hash.
    case failed(reason: String)
}

/// Where a job stands: what `complete` is computed from.
public struct JobProgress: Sendable, Equatable {
    public var producerState: String
    public var queued: Int
    public var inflight: Int
    public var isComplete: Bool { producerState == "listed" && queued == 0 && inflight == 0 }
}

extension JobStore {
    /// Claims up to `batch` keys, taking from the partitions in turn starting at `start`.
    public func claim(consumer: String, leaseSeconds: Double, batch: Int, partitions: [String], start: Int)
        async throws -> [ClaimedKey]
    {
        let keys = self.keys
        let reply = try await run { connection in
            try connection.evalScript(
                QueueScripts.claim,
                keys: [
                    RedisArgument(keys.consumers), RedisArgument(keys.inflight(consumer)), RedisArgument(keys.stats),
                ],
                arguments: [
                    RedisArgument(consumer), RedisArgument(Int(leaseSeconds * 1000)), RedisArgument(batch),
                    RedisArgument(keys.base), RedisArgument(start),
                ] + partitions.map { RedisArgument($0) })
        }
        let items = reply.array ?? []
        var claimed: [ClaimedKey] = []
        claimed.reserveCapacity(items.count / 2)
        var index = 0
        while index + 1 < items.count {
            if let key = items[index].string, let partition = items[index + 1].string {
                claimed.append(ClaimedKey(key: key, partition: partition))
            }
            index += 2
        }
        return claimed
    }

    /// Records a batch of outcomes; safe to repeat after a lost reply.
    public func acknowledge(consumer: String, _ outcomes: [(ClaimedKey, CopyOutcome)]) async throws {
        guard !outcomes.isEmpty else { return }
        let keys = self.keys
        var arguments: [RedisArgument] = [RedisArgument(keys.base)]
        arguments.reserveCapacity(1 + outcomes.count * 4)
        for (item, outcome) in outcomes {
            switch outcome {
            case .copied(let bytes):
                arguments.append("copied")
                arguments += [RedisArgument(item.key), RedisArgument(item.partition), RedisArgument(bytes)]
            case .vanished:
                arguments.append("vanished")
                arguments += [RedisArgument(item.key), RedisArgument(item.partition), ""]
            case .failed(let reason):
                arguments.append("failed")
                arguments += [RedisArgument(item.key), RedisArgument(item.partition), RedisArgument(reason)]
            }
        }
        let scriptArguments = arguments
        let scriptKeys = [
            RedisArgument(keys.inflight(consumer)), RedisArgument(keys.stats), RedisArgument(keys.failed),
            RedisArgument(keys.attempts),
        ]
        _ = try await runIdempotent { connection in
            try connection.evalScript(QueueScripts.acknowledge, keys: scriptKeys, arguments: scriptArguments)
        }
    }

    /// Puts claimed keys back at the front of their queues (no attempt counted).
    @discardableResult
    public func release(consumer: String, _ items: [ClaimedKey]) async throws -> Int {
        guard !items.isEmpty else { return 0 }
        let keys = self.keys
        var arguments: [RedisArgument] = [RedisArgument(keys.base)]
        for item in items { arguments += [RedisArgument(item.key), RedisArgument(item.partition)] }
        let scriptArguments = arguments
        return try await runIdempotent { connection in
            try connection.evalScript(
                QueueScripts.release, keys: [RedisArgument(keys.inflight(consumer))], arguments: scriptArguments
            ).int ?? 0
        }
    }

    /// Extends `consumer`'s lease and requeues the claims of consumers whose lease expired.
    public func heartbeat(consumer: String, leaseSeconds: Double, maxAttempts: Int) async throws
        -> (expired: Int, requeued: Int, failed: Int)
    {
        let keys = self.keys
        let reply = try await runIdempotent { connection in
            try connection.evalScript(
                QueueScripts.heartbeat,
                keys: [
                    RedisArgument(keys.consumers), RedisArgument(keys.stats), RedisArgument(keys.failed),
                    RedisArgument(keys.attempts),
                ],
                arguments: [
                    RedisArgument(consumer), RedisArgument(Int(leaseSeconds * 1000)), RedisArgument(keys.base),
                    RedisArgument(maxAttempts),
                ])
        }
        let values = (reply.array ?? []).map { $0.int ?? 0 }
        return (values.count > 0 ? values[0] : 0, values.count > 1 ? values[1] : 0, values.count > 2 ? values[2] : 0)
    }

    /// Listing state, keys queued and keys in flight, in one round trip.
    public func progress(partitions: [String]) async throws -> JobProgress {
        let keys = self.keys
        let reply = try await runIdempotent { connection in
            try connection.evalScript(
                QueueScripts.progress, keys: [RedisArgument(keys.meta), RedisArgument(keys.consumers)],
                arguments: [RedisArgument(keys.base)] + partitions.map { RedisArgument($0) })
        }
        let values = reply.array ?? []
        guard values.count == 3 else { throw BlobferryError(.failed, "unexpected reply to the progress script") }
        return JobProgress(
            producerState: values[0].string ?? "not started", queued: values[1].int ?? 0, inflight: values[2].int ?? 0)
    }

    /// The keys Redis holds as this consumer's claims.
    public func claims(of consumer: String) async throws -> [ClaimedKey] {
        let key = keys.inflight(consumer)
        return try await runIdempotent { connection in
            let items = try connection.send("HGETALL", RedisArgument(key)).array ?? []
            return stride(from: 0, to: items.count - 1, by: 2).compactMap { index in
                guard let key = items[index].string, let partition = items[index + 1].string else { return nil }
                return ClaimedKey(key: key, partition: partition)
            }
        }
    }

    /// Removes a consumer that holds no claims from the consumers set (a clean exit).
    public func leave(consumer: String) async throws {
        let keys = self.keys
        _ = try await runIdempotent { connection in
            if try connection.send("HLEN", RedisArgument(keys.inflight(consumer))).int == 0 {
                _ = try connection.send("ZREM", RedisArgument(keys.consumers), RedisArgument(consumer))
            }
        }
    }
}
