import BlobferryRedis

extension JobStore {
    /// Moves failed keys back to their partitions' queues (after the cause is fixed), in
    /// batches of `batch`; attempts start again from zero. Returns how many moved.
    public func requeueFailed(batch: Int = 1000) async throws -> Int {
        let keys = self.keys
        let meta = JobMeta(fields: try await metaFields())
        let scheme = try PartitionScheme(parsing: meta.partitions)
        var moved = 0
        while true {
            let failed = try await runIdempotent { connection in
                let reply = try connection.send("HSCAN", RedisArgument(keys.failed), "0", "COUNT", RedisArgument(batch))
                let items = reply.array?.last?.array ?? []
                return stride(from: 0, to: items.count - 1, by: 2).compactMap { items[$0].string }
            }
            if failed.isEmpty { return moved }
            var arguments: [RedisArgument] = [RedisArgument(keys.base)]
            for key in failed { arguments += [RedisArgument(key), RedisArgument(scheme.partition(of: key))] }
            let scriptArguments = arguments
            moved += try await runIdempotent { connection in
                try connection.evalScript(
                    QueueScripts.requeueFailed,
                    keys: [RedisArgument(keys.failed), RedisArgument(keys.stats), RedisArgument(keys.attempts)],
                    arguments: scriptArguments
                ).int ?? 0
            }
        }
    }

    /// Consumers whose lease has not expired (by the Redis server's clock).
    public func liveConsumers() async throws -> Int {
        let key = keys.consumers
        return try await runIdempotent { connection in
            let time = try connection.send("TIME").array ?? []
            let seconds = time.first?.int ?? 0
            let micros = time.count > 1 ? time[1].int ?? 0 : 0
            let now = seconds * 1000 + micros / 1000
            return try connection.send("ZCOUNT", RedisArgument(key), RedisArgument(now), "+inf").int ?? 0
        }
    }

    /// Deletes every key of the job (`blobferry:<job>:*`), done sets included: the next
    /// producer run starts from nothing and copies everything again. Returns keys deleted.
    public func deleteJob() async throws -> Int {
        let pattern = keys.base + "*"
        return try await runIdempotent { connection in
            var cursor = "0"
            var deleted = 0
            repeat {
                let reply = try connection.send(
                    "SCAN", RedisArgument(cursor), "MATCH", RedisArgument(pattern), "COUNT", "1000")
                let parts = reply.array ?? []
                cursor = parts.first?.string ?? "0"
                let found = (parts.count > 1 ? parts[1].array ?? [] : []).compactMap(\.bytes)
                if !found.isEmpty {
                    deleted += try connection.send(["UNLINK"] + found.map { RedisArgument(bytes: $0) }).int ?? 0
                }
            } while cursor != "0"
            return deleted
        }
    }
}
