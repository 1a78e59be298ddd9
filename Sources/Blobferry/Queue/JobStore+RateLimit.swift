import BlobferryRedis

extension JobStore {
    /// Takes up to `wanted` tokens from `side`'s shared request-rate bucket; returns how
    /// many were granted and, when none, how long to wait before asking again.
    public func takeRequestTokens(side: String, perSecond rate: Double, burst: Int, wanted: Int) async throws
        -> (granted: Int, waitSeconds: Double)
    {
        let key = keys.rateBucket(side)
        let values = try await runIdempotent { connection in
            try connection.evalScript(
                QueueScripts.takeTokens, keys: [RedisArgument(key)],
                arguments: [RedisArgument(String(rate)), RedisArgument(burst), RedisArgument(wanted)]
            ).decodeInts("takeTokens script")
        }
        guard values.count == 2 else { throw BlobferryError(.failed, "unexpected reply to the takeTokens script") }
        return (values[0], Double(values[1]) / 1000)
    }
}
