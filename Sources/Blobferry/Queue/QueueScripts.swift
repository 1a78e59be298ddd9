import BlobferryRedis

/// The queue protocol: each step that moves keys between Redis structures is one Lua
/// script, so it is atomic (a process killed between two calls never leaves a key in two
/// places or in none) and costs one round trip per batch, not per key.
///
/// Scripts take the job's key base (`blobferry:<job>:`) and derive partition keys from
/// it, which is why blobferry needs a non-cluster Redis (or one hash slot per job).
/// Times come from the Redis server clock (`TIME`), so consumers on VMs with skewed clocks
/// agree on lease expiry.
enum QueueScripts {
    /// One listed page: drop keys already in the done set, push the rest, save the marker.
    /// KEYS: queue, done, cursor, stats, listed set, listed counts.
    /// ARGV: partition, expected cursor ("" = none yet), next marker ("" = last page), keys...
    /// Returns {enqueued, queue length} or an error if another producer moved the cursor.
    static let enqueuePage = RedisScript(
        """
        local current = redis.call('GET', KEYS[3]) or ''
        if current ~= ARGV[2] then
          return redis.error_reply('CURSORMOVED another producer is listing partition ' .. ARGV[1])
        end
        local listed = #ARGV - 3
        local enqueued = 0
        local i = 4
        while i <= #ARGV do
          local last = math.min(i + 999, #ARGV)
          local batch = {}
          for j = i, last do batch[#batch + 1] = ARGV[j] end
          local seen = redis.call('SMISMEMBER', KEYS[2], unpack(batch))
          local fresh = {}
          for j = 1, #batch do
            if seen[j] == 0 then fresh[#fresh + 1] = batch[j] end
          end
          if #fresh > 0 then
            redis.call('LPUSH', KEYS[1], unpack(fresh))
            enqueued = enqueued + #fresh
          end
          i = last + 1
        end
        if ARGV[3] == '' then
          redis.call('SET', KEYS[3], 'done')
          redis.call('SADD', KEYS[5], ARGV[1])
        else
          redis.call('SET', KEYS[3], ARGV[3])
        end
        redis.call('HINCRBY', KEYS[4], 'listed', listed)
        redis.call('HINCRBY', KEYS[4], 'enqueued', enqueued)
        redis.call('HINCRBY', KEYS[4], 'skipped', listed - enqueued)
        redis.call('HINCRBY', KEYS[6], ARGV[1], listed)
        return {enqueued, redis.call('LLEN', KEYS[1])}
        """)

    /// Moves up to a batch of keys from the queues into this consumer's in-flight hash and
    /// extends its lease; keys already done are dropped on the way (counted as skipped).
    /// KEYS: consumers zset, this consumer's inflight hash, stats.
    /// ARGV: consumer id, lease ms, batch size, key base, first partition index, partitions...
    /// Returns a flat list {key, partition, key, partition, ...}.
    static let claim = RedisScript(
        """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
        local need = tonumber(ARGV[3])
        local base = ARGV[4]
        local first = tonumber(ARGV[5])
        local count = #ARGV - 5
        local out = {}
        local skipped = 0
        for step = 0, count - 1 do
          if need <= 0 then break end
          local partition = ARGV[6 + ((first + step) % count)]
          local items = redis.call('RPOP', base .. 'p:' .. partition .. ':queue', need)
          if items then
            local seen = redis.call('SMISMEMBER', base .. 'p:' .. partition .. ':done', unpack(items))
            for j = 1, #items do
              if seen[j] == 1 then
                skipped = skipped + 1
              else
                redis.call('HSET', KEYS[2], items[j], partition)
                out[#out + 1] = items[j]
                out[#out + 1] = partition
                need = need - 1
              end
            end
          end
        end
        if skipped > 0 then redis.call('HINCRBY', KEYS[3], 'skipped_at_claim', skipped) end
        return out
        """)

    /// Records the outcome of a batch of copies. Counters move only when a key's state
    /// really changes (SADD/HSET returned 1), so replaying an acknowledgement after a lost
    /// reply counts nothing twice.
    /// KEYS: this consumer's inflight hash, stats, failed, attempts.
    /// ARGV: key base, then groups of four: outcome (copied|vanished|failed), key, partition,
    /// detail (bytes for copied, reason for failed, "" otherwise).
    static let acknowledge = RedisScript(
        """
        local base = ARGV[1]
        local copied, bytes, vanished, failed = 0, 0, 0, 0
        for i = 2, #ARGV, 4 do
          local outcome, key, partition, detail = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
          if outcome == 'copied' then
            if redis.call('SADD', base .. 'p:' .. partition .. ':done', key) == 1 then
              copied = copied + 1
              bytes = bytes + tonumber(detail)
            end
            redis.call('HDEL', KEYS[3], key)
          elseif outcome == 'vanished' then
            if redis.call('HDEL', KEYS[1], key) == 1 then vanished = vanished + 1 end
          elseif outcome == 'failed' then
            if redis.call('HSET', KEYS[3], key, detail) == 1 then failed = failed + 1 end
          end
          redis.call('HDEL', KEYS[1], key)
          redis.call('HDEL', KEYS[4], key)
        end
        if copied > 0 then
          redis.call('HINCRBY', KEYS[2], 'copied', copied)
          redis.call('HINCRBY', KEYS[2], 'bytes', bytes)
          local t = redis.call('TIME')
          local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
          redis.call('HSETNX', KEYS[2], 'first_copy_ms', now)
          redis.call('HSET', KEYS[2], 'last_copy_ms', now)
        end
        if vanished > 0 then redis.call('HINCRBY', KEYS[2], 'vanished', vanished) end
        if failed > 0 then redis.call('HINCRBY', KEYS[2], 'failed', failed) end
        return copied
        """)

    /// Hands claimed keys back to the right end of their queues (taken next), e.g. on
    /// SIGTERM or while credentials are rejected. No attempt is counted.
    /// KEYS: this consumer's inflight hash. ARGV: key base, then pairs key, partition.
    static let release = RedisScript(
        """
        local base = ARGV[1]
        local moved = 0
        for i = 2, #ARGV, 2 do
          if redis.call('HDEL', KEYS[1], ARGV[i]) == 1 then
            redis.call('RPUSH', base .. 'p:' .. ARGV[i + 1] .. ':queue', ARGV[i])
            moved = moved + 1
          end
        end
        return moved
        """)

    /// Extends this consumer's lease, then returns the claims of every consumer whose lease
    /// expired to their queues, counting an attempt for each; a key out of attempts goes to
    /// `failed`. KEYS: consumers zset, stats, failed, attempts.
    /// ARGV: consumer id ("" = none), lease ms, key base, max attempts.
    /// Returns {expired consumers, keys requeued, keys failed}.
    static let heartbeat = RedisScript(
        """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        if ARGV[1] ~= '' then redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1]) end
        local base = ARGV[3]
        local maxAttempts = tonumber(ARGV[4])
        local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
        local requeued, failed = 0, 0
        for _, consumer in ipairs(expired) do
          local inflight = base .. 'inflight:' .. consumer
          local claims = redis.call('HGETALL', inflight)
          for i = 1, #claims, 2 do
            local key, partition = claims[i], claims[i + 1]
            local attempts = redis.call('HINCRBY', KEYS[4], key, 1)
            if attempts >= maxAttempts then
              redis.call('HSET', KEYS[3], key, 'claimed ' .. attempts .. ' times by consumers that stopped heartbeating')
              redis.call('HDEL', KEYS[4], key)
              failed = failed + 1
            else
              -- To the back of the line: a key that keeps killing consumers should not
              -- be the next thing every consumer takes.
              redis.call('LPUSH', base .. 'p:' .. partition .. ':queue', key)
              requeued = requeued + 1
            end
          end
          redis.call('DEL', inflight)
          redis.call('ZREM', KEYS[1], consumer)
        end
        if requeued > 0 then redis.call('HINCRBY', KEYS[2], 'requeued', requeued) end
        if failed > 0 then redis.call('HINCRBY', KEYS[2], 'failed', failed) end
        return {#expired, requeued, failed}
        """)

    /// Whether the job is complete: listing finished, nothing queued, nothing in flight.
    /// KEYS: meta, consumers zset. ARGV: key base, partitions...
    /// Returns {producer state, queued, in flight}.
    static let progress = RedisScript(
        """
        local base = ARGV[1]
        local state = redis.call('HGET', KEYS[1], 'producer') or 'not started'
        local queued = 0
        for i = 2, #ARGV do queued = queued + redis.call('LLEN', base .. 'p:' .. ARGV[i] .. ':queue') end
        local inflight = 0
        for _, consumer in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
          inflight = inflight + redis.call('HLEN', base .. 'inflight:' .. consumer)
        end
        return {state, queued, inflight}
        """)

    /// Moves failed keys back to the back of their queues for another round of attempts.
    /// KEYS: failed, stats, attempts. ARGV: key base, then pairs key, partition.
    static let requeueFailed = RedisScript(
        """
        local base = ARGV[1]
        local moved = 0
        for i = 2, #ARGV, 2 do
          if redis.call('HDEL', KEYS[1], ARGV[i]) == 1 then
            redis.call('LPUSH', base .. 'p:' .. ARGV[i + 1] .. ':queue', ARGV[i])
            redis.call('HDEL', KEYS[3], ARGV[i])
            moved = moved + 1
          end
        end
        if moved > 0 then
          redis.call('HINCRBY', KEYS[2], 'failed', -moved)
          redis.call('HINCRBY', KEYS[2], 'requeued_failed', moved)
        end
        return moved
        """)
}
