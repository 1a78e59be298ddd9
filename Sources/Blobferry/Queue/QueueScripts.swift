import BlobferryRedis

/// The queue protocol: each step that moves keys between Redis structures is one Lua
/// script, so it is atomic (a process killed between two calls never leaves a key in two
/// places or in none) and costs one round trip per batch, not per key.
///
/// Rules every script follows:
/// - **Every key arrives in `KEYS`.** `JobKeys` is the only speller of the layout; no script
///   builds a key name. Where the keys are only known at run time (the claims of expired
///   consumers, the consumers whose claims count as in flight), the client reads them first
///   and the script re-checks the condition it acts on (still expired, still registered)
///   before touching anything. Arguments that refer to a key carry its 1-based index in
///   `KEYS` (see `ScriptKeys`).
/// - **Nothing that can fail runs after a destructive step.** Arguments are validated and
///   the reads that can fail (a wrong type, too many arguments for `unpack`) run before the
///   first write, because Redis does not roll a script back: an error after a pop would
///   lose the popped keys. `unpack` is only ever given chunks of `chunkSize` elements.
///
/// Times come from the Redis server clock (`TIME`), so consumers on VMs with skewed clocks
/// agree on lease expiry.
enum QueueScripts {
    /// The most elements any script passes to one `unpack` (Lua's C stack holds about
    /// 8,000); `consumer.batch` is validated against it.
    static let chunkSize = 1000
    /// The largest `consumer.batch`: the claim script takes at most eight chunks from one
    /// partition per call (so a queue full of already-done keys cannot stall Redis).
    static let maxBatch = 8 * chunkSize

    /// The Lua helpers every script starts with: the server clock in ms, and a check that a
    /// 1-based index argument names one of the script's keys.
    private static let prelude = """
        local function now_ms()
          local t = redis.call('TIME')
          return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        end
        local function key_at(index, first, last)
          local n = tonumber(index)
          if not n or n < first or n > (last or #KEYS) then
            error('blobferry: argument ' .. tostring(index) .. ' does not name a declared key')
          end
          return KEYS[n]
        end
        -- Moves keys named in ARGV pairs (key, queue index) from `hash` to the back of their
        -- queues; `forget` (optional) is a hash whose entry for the key is dropped too.
        local function move_back(hash, first_queue, forget)
          for i = 1, #ARGV, 2 do key_at(ARGV[i + 1], first_queue) end
          local moved = 0
          for i = 1, #ARGV, 2 do
            if redis.call('HDEL', hash, ARGV[i]) == 1 then
              redis.call('LPUSH', KEYS[tonumber(ARGV[i + 1])], ARGV[i])
              if forget then redis.call('HDEL', forget, ARGV[i]) end
              moved = moved + 1
            end
          end
          return moved
        end
        -- Charges `key` one attempt in the attempts hash: back of `queue` (1), or, out of
        -- attempts, into the failed hash with `reason` (2; 0 if it was there already).
        local function charge_attempt(attempts_hash, failed_hash, key, queue, max_attempts, reason)
          local attempts = redis.call('HINCRBY', attempts_hash, key, 1)
          if attempts < max_attempts then
            redis.call('LPUSH', queue, key)
            return 1
          end
          -- The attempts stay beside the failure (`blobferry report` shows them);
          -- requeue-failed and a later copy forget them.
          local why = reason or ('claimed ' .. attempts .. ' times by consumers that stopped heartbeating')
          return redis.call('HSET', failed_hash, key, why) == 1 and 2 or 0
        end

        """

    private static func script(_ body: String) -> RedisScript { RedisScript(prelude + body) }

    /// One listed page: drop keys already in the done set unless the producer found them
    /// changed since the previous pass (a delta pass), push the rest, save the marker, only
    /// for the holder of the producer lease and only if the cursor is where the producer
    /// thinks it is. A done key pushed again goes into the partition's changed set, which
    /// lets it through the claim, requeue and reap scripts until its copy is acknowledged.
    /// A cursor elsewhere (a write Redis lost in a restart, since only one producer holds
    /// the lease) is returned for the producer to resume from. The page's Azure `Date` is
    /// kept in `meta` (the earliest of the pass wins): the next pass's delta threshold.
    /// The page's sizes go to the listed-size hash (`blobferry estimate`). Every key of the
    /// page leaves the partition's unseen set (what is left there when the pass's listing
    /// completes was deleted in Azure).
    /// KEYS: queue, done, cursor, stats, listed set, listed counts, producer lease, changed
    /// set, meta, listed sizes, unseen set.
    /// ARGV: partition, expected cursor ("" = none yet), next marker ("" = last page),
    /// producer run id, meta field of this pass's Azure start, the page's Azure date
    /// (seconds since the epoch, "" = unknown), c, the page's blob bytes, key bytes,
    /// medium blobs, large blobs, their parts, then keys... (the first c changed in Azure
    /// since the previous pass's start).
    /// Returns {1, enqueued, queue length}, or {0, the cursor Redis has}; an error if this
    /// producer no longer holds the lease.
    static let enqueuePage = script(
        """
        if redis.call('GET', KEYS[7]) ~= ARGV[4] then
          return redis.error_reply('LEASELOST this producer no longer holds the producer lease of the job')
        end
        local changedCount, listedAt = tonumber(ARGV[7]), ARGV[6]
        local sizes = {bytes = ARGV[8], names = ARGV[9], medium = ARGV[10], large = ARGV[11], parts = ARGV[12]}
        for _, value in pairs(sizes) do
          if not tonumber(value) then return redis.error_reply('ERR enqueuePage: malformed arguments') end
        end
        if not changedCount or changedCount < 0 or changedCount > #ARGV - 12 or ARGV[5] == ''
          or (listedAt ~= '' and not tonumber(listedAt)) then
          return redis.error_reply('ERR enqueuePage: malformed arguments')
        end
        local current = redis.call('GET', KEYS[3]) or ''
        if current ~= ARGV[2] then return {0, current} end
        local started = tonumber(redis.call('HGET', KEYS[9], ARGV[5]) or '')
        local listed = #ARGV - 12
        local fresh, recopy = {}, {}
        for i = 13, #ARGV, 1000 do
          local last = math.min(i + 999, #ARGV)
          local batch = {}
          for j = i, last do batch[#batch + 1] = ARGV[j] end
          local seen = redis.call('SMISMEMBER', KEYS[2], unpack(batch))
          for j = 1, #batch do
            if seen[j] == 0 then
              fresh[#fresh + 1] = batch[j]
            elseif i + j - 1 <= 12 + changedCount then
              recopy[#recopy + 1] = batch[j]
            end
          end
        end
        -- Nothing above wrote; nothing below can fail.
        for i = 1, #fresh, 1000 do
          redis.call('LPUSH', KEYS[1], unpack(fresh, i, math.min(i + 999, #fresh)))
        end
        for i = 1, #recopy, 1000 do
          redis.call('SADD', KEYS[8], unpack(recopy, i, math.min(i + 999, #recopy)))
          redis.call('LPUSH', KEYS[1], unpack(recopy, i, math.min(i + 999, #recopy)))
        end
        for i = 13, #ARGV, 1000 do
          redis.call('SREM', KEYS[11], unpack(ARGV, i, math.min(i + 999, #ARGV)))
        end
        if listedAt ~= '' and (not started or tonumber(listedAt) < started) then
          redis.call('HSET', KEYS[9], ARGV[5], listedAt)
        end
        if ARGV[3] == '' then
          redis.call('SET', KEYS[3], 'done')
          redis.call('SADD', KEYS[5], ARGV[1])
        else
          redis.call('SET', KEYS[3], ARGV[3])
        end
        redis.call('HINCRBY', KEYS[4], 'listed', listed)
        redis.call('HINCRBY', KEYS[4], 'enqueued', #fresh + #recopy)
        redis.call('HINCRBY', KEYS[4], 'changed', #recopy)
        redis.call('HINCRBY', KEYS[4], 'skipped', listed - #fresh - #recopy)
        redis.call('HINCRBY', KEYS[6], ARGV[1], listed)
        for name, value in pairs(sizes) do
          if tonumber(value) ~= 0 then redis.call('HINCRBY', KEYS[10], name .. ':' .. ARGV[1], value) end
        end
        redis.call('HINCRBY', KEYS[10], 'pages:' .. ARGV[1], 1)
        return {1, #fresh + #recopy, redis.call('LLEN', KEYS[1])}
        """)

    /// Ends a pass's listing: each partition's unseen set (done keys this pass did not
    /// list) becomes its deleted set, `stats.deleted_in_source` their total, and the
    /// producer state `listed`. Once the state is `listed` it does nothing (a retry after a
    /// lost reply must not turn the new deleted sets into empty ones).
    /// KEYS: meta, stats, then unseen and deleted set of each partition.
    /// ARGV: the finish time (text for `meta.listing_finished`).
    /// Returns the keys found deleted in Azure.
    static let finishPass = script(
        """
        if (#KEYS - 2) % 2 ~= 0 then return redis.error_reply('ERR finishPass: malformed keys') end
        if redis.call('HGET', KEYS[1], 'producer') == 'listed' then
          return tonumber(redis.call('HGET', KEYS[2], 'deleted_in_source') or '0')
        end
        local total = 0
        for i = 3, #KEYS, 2 do
          if redis.call('EXISTS', KEYS[i]) == 1 then
            redis.call('RENAME', KEYS[i], KEYS[i + 1])
            total = total + redis.call('SCARD', KEYS[i + 1])
          else
            redis.call('DEL', KEYS[i + 1])
          end
        end
        redis.call('HSET', KEYS[2], 'deleted_in_source', total)
        redis.call('HSET', KEYS[1], 'producer', 'listed', 'listing_finished', ARGV[1])
        return total
        """)

    /// Forgets keys whose S3 objects `delete-removed` deleted: out of the deleted set, the
    /// done set (a blob of that name written again later is a new blob) and the unseen set.
    /// Counts only keys that were still in the deleted set, so a replay counts nothing.
    /// KEYS: stats, deleted set, done set, unseen set. ARGV: keys.
    /// Returns how many were forgotten.
    static let forgetDeleted = script(
        """
        local forgotten = 0
        for i = 1, #ARGV do
          if redis.call('SREM', KEYS[2], ARGV[i]) == 1 then
            redis.call('SREM', KEYS[3], ARGV[i])
            redis.call('SREM', KEYS[4], ARGV[i])
            forgotten = forgotten + 1
          end
        end
        if forgotten > 0 then
          redis.call('HINCRBY', KEYS[1], 'deleted_in_source', -forgotten)
          redis.call('HINCRBY', KEYS[1], 'deleted_from_s3', forgotten)
        end
        return forgotten
        """)

    /// Splits a listing unit: its definition is rewritten (a lower upper bound) and its
    /// children's are added, in one step, if `producer` holds the lease, the unit's cursor
    /// is still at `marker` and its definition is still `old`; so the split is recorded
    /// before the parent's cursor moves past the page that decided it, and a producer
    /// killed at any instant resumes with every range listed by exactly one unit.
    /// KEYS: producer lease, units hash, the unit's cursor.
    /// ARGV: producer run id, unit id, marker, old definition, new definition, then pairs
    /// of child id and definition.
    /// Returns 1 when the split is recorded (now, or by an earlier call whose reply was
    /// lost), 0 when the unit or its cursor moved on (nothing written).
    static let splitUnit = script(
        """
        if redis.call('GET', KEYS[1]) ~= ARGV[1] then
          return redis.error_reply('LEASELOST this producer no longer holds the producer lease of the job')
        end
        if #ARGV < 7 or #ARGV % 2 ~= 1 or ARGV[2] == '' then
          return redis.error_reply('ERR splitUnit: malformed arguments')
        end
        local current = redis.call('HGET', KEYS[2], ARGV[2])
        if current == ARGV[5] then return 1 end
        if current ~= ARGV[4] or (redis.call('GET', KEYS[3]) or '') ~= ARGV[3] then return 0 end
        for i = 6, #ARGV, 2 do
          if redis.call('HEXISTS', KEYS[2], ARGV[i]) == 1 then return 0 end
        end
        -- Nothing above wrote.
        for i = 6, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
        redis.call('HSET', KEYS[2], ARGV[2], ARGV[5])
        return 1
        """)

    /// Takes or renews the producer lease (one producer per job; `SET NX PX` for a new
    /// holder, `PEXPIRE` for the current one), or releases it.
    /// KEYS: producer lease. ARGV: producer run id, lease ms, "hold" or "release".
    /// Returns 1 if this run holds (or released) the lease, 0 if another run holds it.
    static let producerLease = script(
        """
        local holder = redis.call('GET', KEYS[1])
        if ARGV[3] == 'release' then
          if holder == ARGV[1] then redis.call('DEL', KEYS[1]) end
          return 1
        end
        if holder == ARGV[1] then
          redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
          return 1
        end
        if holder then return 0 end
        redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
        return 1
        """)

    /// Moves up to a batch of keys from a window of partitions into this consumer's
    /// in-flight hash and extends its lease; keys already done are dropped on the way
    /// (counted as `skipped_at_claim`) unless a delta pass put them in the changed set. Each chunk is read (`LRANGE`) and checked against
    /// the done set before it is trimmed off the queue, so a failure pops nothing.
    /// KEYS: consumers zset, this consumer's inflight hash, stats, then queue, done and
    /// changed of each partition in the window, in the order to take from.
    /// ARGV: consumer run id, lease ms, batch size (at most `chunkSize` per partition and
    /// round), then the window's partition names (stored as the claim's value).
    /// Returns a flat list {key, partition, key, partition, ...}.
    static let claim = script(
        """
        local kind = redis.call('TYPE', KEYS[2])['ok']
        if kind ~= 'hash' and kind ~= 'none' then
          return redis.error_reply('WRONGTYPE ' .. KEYS[2] .. ' is a ' .. kind .. ', not a hash')
        end
        local need = tonumber(ARGV[3])
        local window = (#KEYS - 3) / 3
        if not need or need < 1 or window ~= math.floor(window) or #ARGV ~= 3 + window then
          return redis.error_reply('ERR claim: malformed arguments')
        end
        redis.call('ZADD', KEYS[1], now_ms() + tonumber(ARGV[2]), ARGV[1])
        local out = {}
        local skipped = 0
        for w = 1, window do
          local queue, done, changed, partition = KEYS[1 + 3 * w], KEYS[2 + 3 * w], KEYS[3 + 3 * w], ARGV[3 + w]
          -- Bounded rounds: a queue full of already-done keys must not stall Redis.
          local rounds = 0
          while need > 0 and rounds < 8 do
            rounds = rounds + 1
            local items = redis.call('LRANGE', queue, -math.min(need, 1000), -1)
            if #items == 0 then break end
            local seen = redis.call('SMISMEMBER', done, unpack(items))
            local redo = redis.call('SMISMEMBER', changed, unpack(items))
            -- Nothing above wrote; nothing below can fail.
            redis.call('LTRIM', queue, 0, -#items - 1)
            local fields = {}
            for j = #items, 1, -1 do
              if seen[j] == 1 and redo[j] == 0 then
                skipped = skipped + 1
              else
                fields[#fields + 1] = items[j]
                fields[#fields + 1] = partition
                out[#out + 1] = items[j]
                out[#out + 1] = partition
                need = need - 1
              end
            end
            if #fields > 0 then redis.call('HSET', KEYS[2], unpack(fields)) end
          end
        end
        if skipped > 0 then redis.call('HINCRBY', KEYS[3], 'skipped_at_claim', skipped) end
        return out
        """)

    /// Records the outcome of a batch of copies. Counters move only when a key's state
    /// really changes (SADD/HSET/HDEL returned 1), so replaying an acknowledgement after a
    /// lost reply counts nothing twice, `copied` equals the done sets and `failed` the
    /// failed hash. A copy of a key already done that a delta pass found changed counts as
    /// `recopied` (and `recopied_bytes`) when it leaves the changed set, so first copies
    /// and re-copies stay apart.
    ///
    /// A copy is recorded whoever reports it (the bytes are in S3). A failure or a vanished
    /// blob counts only from the consumer that still holds the claim: a consumer that lost
    /// its lease reports on a key that is back in a queue or in other hands, and a failure
    /// never lands for a key already done.
    /// A vanished key is remembered in the vanished set (until a later pass copies it); a
    /// failure counts one more attempt beside the key (the claim that failed).
    /// KEYS: this consumer's inflight hash, stats, failed, attempts, the copy-rate ring,
    /// the vanished set, then done and changed set of each partition involved.
    /// ARGV: groups of four: outcome (copied|vanished|marker|existing|failed), key, index of
    /// the key's done set in KEYS (its changed set follows it), detail (bytes for copied,
    /// reason for failed, "" otherwise).
    static let acknowledge = script(
        """
        if #ARGV % 4 ~= 0 then return redis.error_reply('ERR acknowledge: malformed arguments') end
        for i = 1, #ARGV, 4 do
          key_at(ARGV[i + 2], 7)
          key_at(ARGV[i + 2] + 1, 8)
          local outcome = ARGV[i]
          if outcome == 'copied' then
            if not tonumber(ARGV[i + 3]) then error('blobferry: copied without a byte count') end
          elseif outcome ~= 'vanished' and outcome ~= 'marker' and outcome ~= 'existing' and outcome ~= 'failed' then
            error('blobferry: unknown outcome ' .. outcome)
          end
        end
        local copied, bytes, vanished, markers, existing, failed = 0, 0, 0, 0, 0, 0
        local recopied, recopiedBytes = 0, 0
        for i = 1, #ARGV, 4 do
          local outcome, key, detail = ARGV[i], ARGV[i + 1], ARGV[i + 3]
          local done, changed = KEYS[tonumber(ARGV[i + 2])], KEYS[tonumber(ARGV[i + 2]) + 1]
          local owned = redis.call('HDEL', KEYS[1], key) == 1
          if outcome == 'copied' then
            local first = redis.call('SADD', done, key) == 1
            local redone = redis.call('SREM', changed, key) == 1
            if first then
              copied = copied + 1
              bytes = bytes + tonumber(detail)
            elseif redone then
              recopied = recopied + 1
              recopiedBytes = recopiedBytes + tonumber(detail)
            end
            if redis.call('HDEL', KEYS[3], key) == 1 then failed = failed - 1 end
            redis.call('HDEL', KEYS[4], key)
            redis.call('SREM', KEYS[6], key)
          elseif owned then
            if outcome ~= 'failed' then redis.call('SREM', changed, key) end
            local keepAttempts = false
            if outcome == 'vanished' then
              vanished = vanished + 1
              redis.call('SADD', KEYS[6], key)
            elseif outcome == 'marker' then
              markers = markers + 1
            elseif outcome == 'existing' then
              existing = existing + 1
            elseif redis.call('SISMEMBER', done, key) == 0 or redis.call('SISMEMBER', changed, key) == 1 then
              if redis.call('HSET', KEYS[3], key, detail) == 1 then failed = failed + 1 end
              redis.call('HINCRBY', KEYS[4], key, 1)
              keepAttempts = true
            end
            if not keepAttempts then redis.call('HDEL', KEYS[4], key) end
          end
        end
        if copied > 0 then
          redis.call('HINCRBY', KEYS[2], 'copied', copied)
          redis.call('HINCRBY', KEYS[2], 'bytes', bytes)
          local now = now_ms()
          redis.call('HSETNX', KEYS[2], 'first_copy_ms', now)
          redis.call('HSET', KEYS[2], 'last_copy_ms', now)
        end
        if recopied > 0 then
          redis.call('HINCRBY', KEYS[2], 'recopied', recopied)
          redis.call('HINCRBY', KEYS[2], 'recopied_bytes', recopiedBytes)
          redis.call('HSET', KEYS[2], 'last_copy_ms', now_ms())
        end
        if copied + recopied > 0 then
          -- The copy-rate ring: copies per 5-second slot, the last minute kept.
          local slot = math.floor(now_ms() / 5000)
          redis.call('HINCRBY', KEYS[5], slot, copied + recopied)
          if redis.call('HLEN', KEYS[5]) > 14 then
            for _, field in ipairs(redis.call('HKEYS', KEYS[5])) do
              local old = tonumber(field)
              if not old or old < slot - 12 then redis.call('HDEL', KEYS[5], field) end
            end
          end
        end
        if vanished > 0 then redis.call('HINCRBY', KEYS[2], 'vanished', vanished) end
        if markers > 0 then redis.call('HINCRBY', KEYS[2], 'directory_markers', markers) end
        if existing > 0 then redis.call('HINCRBY', KEYS[2], 'skipped_existing', existing) end
        if failed ~= 0 then redis.call('HINCRBY', KEYS[2], 'failed', failed) end
        return copied
        """)

    /// Hands claimed keys back to the back of their queues (taken after what is already
    /// waiting, so one key that keeps failing cannot starve the rest). No attempt counted:
    /// callers that want one use `countAttempts`.
    /// KEYS: this consumer's inflight hash, then queues.
    /// ARGV: pairs key, index of its queue in KEYS.
    /// Returns how many keys this consumer still held and moved.
    static let release = script(
        """
        return move_back(KEYS[1], 2, nil)
        """)

    /// Counts one attempt for each key this consumer still holds and hands it back to the
    /// back of its queue, or, out of attempts, moves it to `failed` with the given reason
    /// (a key one bucket policy always refuses must not be retried forever).
    /// KEYS: this consumer's inflight hash, stats, failed, attempts, then queue, done and
    /// changed of each partition involved.
    /// ARGV: max attempts, then triples key, index of its queue in KEYS (done and changed
    /// follow it), reason. A key done and not changed is dropped (nothing left to copy).
    /// Returns {requeued, failed}.
    static let countAttempts = script(
        """
        local maxAttempts = tonumber(ARGV[1])
        if not maxAttempts or (#ARGV - 1) % 3 ~= 0 then
          return redis.error_reply('ERR countAttempts: malformed arguments')
        end
        for i = 2, #ARGV, 3 do key_at(ARGV[i + 1], 5); key_at(ARGV[i + 1] + 2, 7) end
        local requeued, failed = 0, 0
        for i = 2, #ARGV, 3 do
          local key, slot, reason = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
          if redis.call('HDEL', KEYS[1], key) == 1 and (redis.call('SISMEMBER', KEYS[slot + 1], key) == 0
            or redis.call('SISMEMBER', KEYS[slot + 2], key) == 1) then
            local outcome = charge_attempt(KEYS[4], KEYS[3], key, KEYS[slot], maxAttempts, reason)
            if outcome == 1 then requeued = requeued + 1 elseif outcome == 2 then failed = failed + 1 end
          end
        end
        if failed > 0 then redis.call('HINCRBY', KEYS[2], 'failed', failed) end
        return {requeued, failed}
        """)

    /// Extends this consumer's lease (phase one of a heartbeat) and names the consumers
    /// whose lease expired, for `reap`. A consumer that was reaped while away (a frozen VM,
    /// a cut link) is told so once: `reap` leaves its run id in the reaped set.
    /// KEYS: consumers zset, reaped zset. ARGV: consumer run id ("" = only look), lease ms,
    /// how many expired consumers to name at most.
    /// Returns {this consumer's lease before: 0 none, 1 held, 2 lapsed or reaped; expired ids...}.
    static let renewLease = script(
        """
        local now = now_ms()
        local before = 0
        if ARGV[1] ~= '' then
          local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
          if score then before = (tonumber(score) > now) and 1 or 2 end
          if redis.call('ZREM', KEYS[2], ARGV[1]) == 1 then before = 2 end
          redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
        end
        local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
        table.insert(expired, 1, before)
        return expired
        """)

    /// Returns the claims of consumers whose lease expired to their queues (phase two of a
    /// heartbeat), counting an attempt for each; a key out of attempts goes to `failed`, a
    /// key already done is dropped. Each consumer is re-checked first: one that renewed its
    /// lease since phase one keeps everything. A consumer whose hash is empty afterwards
    /// leaves the consumers set.
    /// KEYS: consumers zset, stats, failed, attempts, reaped zset, the n consumers' inflight
    /// hashes, then queue, done and changed of each partition involved.
    /// ARGV: max attempts, n, the n consumer ids, then triples consumer number (1...n), key,
    /// index of its queue in KEYS (done and changed follow it).
    /// Returns {expired consumers, keys requeued, keys failed}.
    static let reap = script(
        """
        local maxAttempts, n = tonumber(ARGV[1]), tonumber(ARGV[2])
        if not maxAttempts or not n or (#ARGV - 2 - n) % 3 ~= 0 then
          return redis.error_reply('ERR reap: malformed arguments')
        end
        for i = 3 + n, #ARGV, 3 do
          key_at(5 + tonumber(ARGV[i]), 6, 5 + n)
          key_at(ARGV[i + 2], 6 + n)
          key_at(ARGV[i + 2] + 2, 8 + n)
        end
        local now = now_ms()
        local expired, count = {}, 0
        for c = 1, n do
          local score = redis.call('ZSCORE', KEYS[1], ARGV[2 + c])
          expired[c] = score and tonumber(score) <= now
          if expired[c] then count = count + 1 end
        end
        local requeued, failed = 0, 0
        for i = 3 + n, #ARGV, 3 do
          local c, key, slot = tonumber(ARGV[i]), ARGV[i + 1], tonumber(ARGV[i + 2])
          if expired[c] and redis.call('HDEL', KEYS[5 + c], key) == 1 then
            if redis.call('SISMEMBER', KEYS[slot + 1], key) == 1 and redis.call('SISMEMBER', KEYS[slot + 2], key) == 0 then
              redis.call('HDEL', KEYS[4], key)
            else
              -- To the back of the line: a key that keeps killing consumers should not be
              -- the next thing every consumer takes.
              local outcome = charge_attempt(KEYS[4], KEYS[3], key, KEYS[slot], maxAttempts, nil)
              if outcome == 1 then requeued = requeued + 1 elseif outcome == 2 then failed = failed + 1 end
            end
          end
        end
        for c = 1, n do
          if expired[c] and redis.call('HLEN', KEYS[5 + c]) == 0 then
            redis.call('ZREM', KEYS[1], ARGV[2 + c])
            -- Remembered for a day, so the consumer learns at its next heartbeat.
            redis.call('ZADD', KEYS[5], now, ARGV[2 + c])
          end
        end
        redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - 86400000)
        if requeued > 0 then redis.call('HINCRBY', KEYS[2], 'requeued', requeued) end
        if failed > 0 then redis.call('HINCRBY', KEYS[2], 'failed', failed) end
        return {count, requeued, failed}
        """)

    /// Takes up to `wanted` request tokens from a bucket every consumer shares, refilled
    /// by the server clock at `rate` per second up to `burst`: the request-rate limit of
    /// one side, taken in batches so it costs a round trip per batch, not per request.
    /// KEYS: the bucket hash. ARGV: rate per second, burst, wanted.
    /// Returns {granted, ms to wait before asking again when none was granted}.
    static let takeTokens = script(
        """
        local rate, burst, wanted = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
        if not rate or rate <= 0 or not burst or not wanted then
          return redis.error_reply('ERR takeTokens: malformed arguments')
        end
        local now = now_ms()
        local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens') or burst)
        local last = tonumber(redis.call('HGET', KEYS[1], 'ms') or now)
        tokens = math.min(burst, tokens + math.max(0, now - last) * rate / 1000)
        local granted = math.min(wanted, math.floor(tokens))
        tokens = tokens - granted
        redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ms', tostring(now))
        redis.call('PEXPIRE', KEYS[1], 60000)
        local wait = 0
        if granted == 0 then wait = math.ceil((1 - tokens) * 1000 / rate) end
        return {granted, wait}
        """)

    /// A clean exit: leaves the consumers set only if this consumer holds no claims (a
    /// consumer that still holds some stays until its lease expires and they are reaped).
    /// KEYS: consumers zset, this consumer's inflight hash. ARGV: consumer run id.
    /// Returns 1 if it left.
    static let leave = script(
        """
        if redis.call('HLEN', KEYS[2]) > 0 then return 0 end
        redis.call('ZREM', KEYS[1], ARGV[1])
        return 1
        """)

    /// Where the job stands, read in one atomic step: what `complete` is computed from, by
    /// consumers and by `status` alike. The consumers were read by the client; if the set
    /// changed since, the script says so (the client reads again) rather than count a
    /// consumer's claims it was not given.
    /// KEYS: meta, consumers zset, failed, the rate ring, the q queues, then the inflight
    /// hashes of the consumers named in ARGV. ARGV: q, then the consumer ids.
    /// Returns {consistent 0/1, producer state, queued, in flight, failed, keys copied in
    /// the last minute's window, that window in ms} (the window is the 11 whole 5-second
    /// slots before the current one plus the current one so far).
    static let progress = script(
        """
        local q = tonumber(ARGV[1])
        local ids = #ARGV - 1
        if not q or #KEYS ~= 4 + q + ids then return redis.error_reply('ERR progress: malformed arguments') end
        local state = redis.call('HGET', KEYS[1], 'producer') or 'not started'
        if redis.call('ZCARD', KEYS[2]) ~= ids then return {0, state, 0, 0, 0, 0, 0} end
        for i = 2, #ARGV do
          if not redis.call('ZSCORE', KEYS[2], ARGV[i]) then return {0, state, 0, 0, 0, 0, 0} end
        end
        local queued, inflight = 0, 0
        for i = 5, 4 + q do queued = queued + redis.call('LLEN', KEYS[i]) end
        for i = 5 + q, #KEYS do inflight = inflight + redis.call('HLEN', KEYS[i]) end
        local now = now_ms()
        local slot = math.floor(now / 5000)
        local ring = redis.call('HGETALL', KEYS[4])
        local recent = 0
        for i = 1, #ring, 2 do
          local s = tonumber(ring[i])
          if s and s > slot - 12 and s <= slot then recent = recent + tonumber(ring[i + 1]) end
        end
        return {1, state, queued, inflight, redis.call('HLEN', KEYS[3]), recent, 55000 + now - slot * 5000}
        """)

    /// Moves failed keys back to the back of their queues for another round of attempts.
    /// KEYS: failed, stats, attempts, then queues. ARGV: pairs key, index of its queue in KEYS.
    static let requeueFailed = script(
        """
        local moved = move_back(KEYS[1], 4, KEYS[3])
        if moved > 0 then
          redis.call('HINCRBY', KEYS[2], 'failed', -moved)
          redis.call('HINCRBY', KEYS[2], 'requeued_failed', moved)
        end
        return moved
        """)
}

/// A script's `KEYS` list with fixed keys first and the rest added as arguments need them,
/// each once; `slot` returns the 1-based Lua index an argument passes to name it.
struct ScriptKeys {
    private(set) var keys: [RedisArgument]
    private var slots: [String: Int] = [:]

    init(_ fixed: [String]) { keys = fixed.map { RedisArgument($0) } }

    /// The index of `group`'s first key, adding the group (e.g. a queue and its done set,
    /// kept adjacent) the first time it is asked for.
    mutating func slot(_ group: String...) -> Int {
        if let slot = slots[group[0]] { return slot }
        let slot = keys.count + 1
        slots[group[0]] = slot
        keys += group.map { RedisArgument($0) }
        return slot
    }
}
