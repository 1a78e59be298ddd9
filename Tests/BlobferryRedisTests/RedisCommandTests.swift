import BlobferryRedis
import BlobferryTestSupport
import Testing

@Suite("Redis commands against a real redis-server")
struct RedisCommandTests {
    let server: RedisServerProcess
    let redis: RedisConnection

    init() throws {
        server = try RedisServerProcess()
        redis = try RedisConnection(configuration: try configuration(server))
    }

    @Test func typedRepliesOfEveryKind() throws {
        #expect(try redis.send("SET", "greeting", "hello") == .status("OK"))
        #expect(try redis.send("PING").string == "PONG")
        #expect(try redis.send("GET", "greeting") == .bulk(Array("hello".utf8)))
        #expect(try redis.send("GET", "greeting").string == "hello")
        #expect(try redis.send("INCRBY", "counter", 41) == .integer(41))
        #expect(try redis.send("INCR", "counter").int == 42)
        #expect(try redis.send("GET", "counter").int == 42)  // bulk "42" parses as Int
        #expect(try redis.send("GET", "missing") == .null)
        #expect(try redis.send("GET", "missing").isNull)
        _ = try redis.send("RPUSH", "list", "a", "b", "c")
        let range = try redis.send("LRANGE", "list", 0, -1)
        #expect(range.array?.compactMap(\.string) == ["a", "b", "c"])
        #expect(range.string == nil && range.int == nil)
        // A nested array: EVAL returning a table inside a table.
        let nested = try redis.send("EVAL", "return {1, {'x', false}}", 0)
        #expect(nested == .array([.integer(1), .array([.bulk(Array("x".utf8)), .null])]))
        // Invalid UTF-8 decodes without crashing; the raw bytes are kept exactly.
        _ = try redis.send("SET", "latin1", RedisArgument(bytes: [0x63, 0x61, 0x66, 0xE9, 0xFF]))
        let latin1 = try redis.send("GET", "latin1")
        #expect(latin1.bytes == [0x63, 0x61, 0x66, 0xE9, 0xFF])
        #expect(latin1.string?.hasPrefix("caf") == true)
    }

    @Test func errorRepliesThrowServerErrorWithRedisMessage() throws {
        _ = try redis.send("SET", "plain", "value")
        do {
            _ = try redis.send("LPUSH", "plain", "x")
            Issue.record("LPUSH on a string did not throw")
        } catch let error as RedisError {
            #expect(error.code == .serverError)
            #expect(error.message.hasPrefix("WRONGTYPE"))
        }
        #expect(redisErrorCode { try redis.send("NOSUCHCOMMAND") } == .serverError)
        // The connection is still fine after error replies.
        #expect(try redis.send("GET", "plain").string == "value")
        #expect(redis.reconnectCount == 0)
    }

    @Test func emptyCommandIsRejectedLocally() throws {
        #expect(redisErrorCode { try redis.send([]) } == .protocolError)
        #expect(redisErrorCode { try redis.pipeline([["PING"], []]) } == .protocolError)
        #expect(try redis.send("PING").string == "PONG")
        #expect(redis.reconnectCount == 0)
    }

    @Test func binarySafeKeysAndValues() throws {
        let keys: [[UInt8]] = [
            Array("nul\u{0}inside".utf8), Array("line\nbreak\r\nand more".utf8), Array("with spaces  ".utf8),
            Array("ünïcødé/日本語".utf8), Array("emoji 🚀👩‍💻".utf8), Array(0...255), [0], [],
        ]
        for (index, key) in keys.enumerated() {
            let value = key.reversed() + [UInt8(index), 0, 10, 13]
            #expect(try redis.send("SET", RedisArgument(bytes: key), RedisArgument(bytes: value)) == .status("OK"))
            #expect(try redis.send("GET", RedisArgument(bytes: key)).bytes == value)
            #expect(try redis.send("STRLEN", RedisArgument(bytes: key)).int == value.count)
        }
        #expect(try redis.send("DBSIZE").int == keys.count)
        // Members come back byte for byte from a SET too.
        _ = try redis.send([RedisArgument("SADD"), RedisArgument("members")] + keys.map { RedisArgument(bytes: $0) })
        let members = try redis.send("SMEMBERS", "members").array?.compactMap(\.bytes) ?? []
        #expect(Set(members) == Set(keys))
        #expect(try redis.send("SISMEMBER", "members", RedisArgument("emoji 🚀👩‍💻")).int == 1)
    }

    @Test func pipelineOfTenThousandCommandsKeepsOrder() throws {
        var commands: [[RedisArgument]] = []
        for index in 0..<5_000 {
            commands.append(["SET", RedisArgument("key:\(index)"), RedisArgument("value-\(index)")])
        }
        for index in 0..<4_999 {
            commands.append(["GET", RedisArgument("key:\(index)")])
        }
        commands.insert(["LPUSH", "key:7", "x"], at: 7_000)  // one error reply in the middle
        #expect(commands.count == 10_000)
        let replies = try redis.pipeline(commands)
        #expect(replies.count == 10_000)
        #expect(replies[0..<5_000].allSatisfy { $0 == .status("OK") })
        #expect(replies[7_000].errorMessage?.hasPrefix("WRONGTYPE") == true)
        var mismatches = 0
        for (offset, reply) in replies[5_000...].enumerated() where offset + 5_000 != 7_000 {
            let index = offset + 5_000 < 7_000 ? offset : offset - 1
            if reply.string != "value-\(index)" { mismatches += 1 }
        }
        #expect(mismatches == 0)
        #expect(try redis.send("DBSIZE").int == 5_000)
        #expect(try redis.pipeline([]).isEmpty)
    }

    @Test func evalShaRunsAndSurvivesScriptFlush() throws {
        let script = RedisScript(
            """
            local total = redis.call('INCRBY', KEYS[1], ARGV[1])
            return {total, ARGV[2]}
            """)
        let first = try redis.evalScript(script, keys: ["blobferry:test:count"], arguments: [5, "tag"])
        #expect(first == .array([.integer(5), .bulk(Array("tag".utf8))]))
        let sha = try #require(redis.cachedSHA(of: script))
        #expect(sha.count == 40)
        #expect(try redis.send("SCRIPT", "EXISTS", RedisArgument(sha)) == .array([.integer(1)]))

        _ = try redis.send("SCRIPT", "FLUSH")
        #expect(try redis.send("SCRIPT", "EXISTS", RedisArgument(sha)) == .array([.integer(0)]))
        let second = try redis.evalScript(script, keys: ["blobferry:test:count"], arguments: [2, "again"])
        #expect(second.array?.first == .integer(7))
        #expect(redis.cachedSHA(of: script) == sha)

        // A SHA from loadScript works inside a pipeline.
        let loaded = try redis.loadScript(script)
        let replies = try redis.pipeline([
            ["EVALSHA", RedisArgument(loaded), 1, "blobferry:test:count", 1, "p"],
            ["EVALSHA", RedisArgument(loaded), 1, "blobferry:test:count", 1, "p"],
        ])
        #expect(replies.map { $0.array?.first } == [.integer(8), .integer(9)])
    }

    @Test func scriptErrorsThrowServerError() throws {
        let broken = RedisScript("return redis.call('LPUSH', KEYS[1], 'x')")
        _ = try redis.send("SET", "a-string", "1")
        do {
            _ = try redis.evalScript(broken, keys: ["a-string"], arguments: [])
            Issue.record("script error did not throw")
        } catch let error as RedisError {
            #expect(error.code == .serverError)
            #expect(error.message.contains("WRONGTYPE"))
        }
        let syntax = RedisScript("this is not lua")
        #expect(redisErrorCode { try redis.evalScript(syntax, keys: [], arguments: []) } == .serverError)
    }

    @Test func databaseFromURLIsSelected() throws {
        let other = try RedisConnection(configuration: try RedisConfiguration(url: server.url(database: 3)))
        _ = try other.send("SET", "only-in-db3", "yes")
        #expect(try redis.send("EXISTS", "only-in-db3").int == 0)
        #expect(try redis.send("SELECT", 3) == .status("OK"))
        #expect(try redis.send("GET", "only-in-db3").string == "yes")
        let outOfRange = try RedisConfiguration(url: server.url(database: 99))
        #expect(redisErrorCode { try RedisConnection(configuration: outOfRange) } == .serverError)
    }
}
