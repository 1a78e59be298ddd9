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
                try Self.scanPage(
                    connection.send("HSCAN", RedisArgument(keys.failed), "0", "COUNT", RedisArgument(batch)),
                    "HSCAN failed"
                ).pairs
            }
            if failed.isEmpty { return moved }
            var scriptKeys = ScriptKeys([keys.failed, keys.stats, keys.attempts])
            var arguments: [RedisArgument] = []
            for (key, _) in failed {
                arguments += [
                    RedisArgument(key), RedisArgument(scriptKeys.slot(keys.queue(scheme.partition(of: key)))),
                ]
            }
            let (finalKeys, finalArguments) = (scriptKeys.keys, arguments)
            moved += try await runIdempotent { connection in
                try connection.evalScript(QueueScripts.requeueFailed, keys: finalKeys, arguments: finalArguments)
                    .decodeInt("requeueFailed script")
            }
        }
    }

    /// Consumers whose lease has not expired (by the Redis server's clock).
    public func liveConsumers() async throws -> Int {
        let key = keys.consumers
        return try await runIdempotent { connection in
            let time = try connection.send("TIME").decodeInts("TIME")
            guard time.count == 2 else { throw RedisError(.protocolError, "TIME: expected two integers") }
            let now = time[0] * 1000 + time[1] / 1000
            return try connection.send("ZCOUNT", RedisArgument(key), RedisArgument(now), "+inf").decodeInt("ZCOUNT")
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
                let parts = try reply.decodeArray("SCAN")
                guard parts.count == 2 else { throw RedisError(.protocolError, "SCAN: expected cursor and keys") }
                cursor = try parts[0].decodeString("SCAN cursor")
                let found = try parts[1].decodeArray("SCAN keys").map { reply in
                    guard let bytes = reply.bytes else {
                        throw RedisError(.protocolError, "SCAN: a key is not a string")
                    }
                    return RedisArgument(bytes: bytes)
                }
                if !found.isEmpty {
                    deleted += try connection.send(["UNLINK"] + found).decodeInt("UNLINK")
                }
            } while cursor != "0"
            return deleted
        }
    }

    /// One SSCAN page of the set `key` from `cursor` ("0" = the start; the returned cursor
    /// is "0" after the last page). A member may come twice if the set changes meanwhile.
    func setScanPage(_ key: String, cursor: String, count: Int = 1000, what: String) async throws
        -> (cursor: String, members: [String])
    {
        try await runIdempotent { connection in
            let parts = try connection.send(
                "SSCAN", RedisArgument(key), RedisArgument(cursor), "COUNT", RedisArgument(count)
            ).decodeArray(what)
            guard parts.count == 2 else { throw RedisError(.protocolError, "\(what): expected cursor and members") }
            return (try parts[0].decodeString(what), try parts[1].decodeStrings(what))
        }
    }

    /// The field/value pairs of one HSCAN page (the cursor is dropped: callers read the
    /// first page again after moving what it held).
    static func scanPage(_ reply: RedisReply, _ what: String) throws -> (cursor: String, pairs: [(String, String)]) {
        let parts = try reply.decodeArray(what)
        guard parts.count == 2 else { throw RedisError(.protocolError, "\(what): expected cursor and items") }
        return (try parts[0].decodeString(what), try parts[1].decodePairs(what))
    }
}
