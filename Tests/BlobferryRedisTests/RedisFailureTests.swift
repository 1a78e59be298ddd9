import BlobferryRedis
import BlobferryTestSupport
import Foundation
import Testing

@Suite("Redis timeouts, restarts and reconnects")
struct RedisFailureTests {
    @Test func blockingCommandTimesOutAndTheNextCallReconnects() throws {
        let server = try RedisServerProcess()
        let redis = try RedisConnection(configuration: try configuration(server) { $0.commandTimeout = 0.5 })
        let start = monotonicNow()
        #expect(redisErrorCode { try redis.send("BLPOP", "nothing-here", 10) } == .timeout)
        let elapsed = monotonicNow() - start
        #expect(elapsed >= 0.4 && elapsed < 5)
        #expect(!redis.isConnected)
        #expect(try redis.send("SET", "after", "timeout") == .status("OK"))
        #expect(try redis.send("GET", "after").string == "timeout")
        #expect(redis.reconnectCount == 1)
    }

    @Test func busyServerTimesOutThenAnswersAgain() throws {
        let server = try RedisServerProcess(extraArguments: ["--enable-debug-command", "yes"])
        let redis = try RedisConnection(configuration: try configuration(server) { $0.commandTimeout = 0.5 })
        _ = try redis.send("SET", "k", "v")
        let sleeper = Handoff(try RedisConnection(configuration: try configuration(server)))
        let sleeping = Background { try sleeper.value.send("DEBUG", "SLEEP", 2) }
        defer { _ = sleeping.wait() }  // even when an expectation throws
        Thread.sleep(forTimeInterval: 0.3)
        #expect(redisErrorCode { try redis.send("GET", "k") } == .timeout)
        // The reconnect waits (within connectTimeout) until the server wakes up.
        #expect(try redis.send("GET", "k").string == "v")
        #expect(try sleeping.wait().get() == .status("OK"))
    }

    @Test func serverRestartDuringACallThenDataIsBack() throws {
        let server = try RedisServerProcess(appendOnly: true)
        let redis = try RedisConnection(configuration: try configuration(server))
        _ = try redis.send("SADD", "blobferry:job:p:a:done", "a1", "a2", "a3")
        let handoff = Handoff(redis)
        let inFlight = Background { try handoff.value.send("BLPOP", "empty-queue", 20) }
        Thread.sleep(forTimeInterval: 0.3)
        server.stop()
        let result = inFlight.wait()
        #expect(redisErrorCode { try result.get() } == .connectionLost)
        try server.start()
        #expect(try redis.send("SCARD", "blobferry:job:p:a:done").int == 3)
        #expect(redis.reconnectCount == 1)
    }

    @Test func idleConnectionNoticesARestartWithoutFailing() throws {
        let server = try RedisServerProcess(appendOnly: true)
        let redis = try RedisConnection(configuration: try configuration(server))
        _ = try redis.send("SET", "survives", "crash")
        server.kill()  // SIGKILL: the AOF write happened before the reply, so the page cache has it
        try server.start()
        Thread.sleep(forTimeInterval: 0.1)
        #expect(try redis.send("GET", "survives").string == "crash")
        #expect(redis.reconnectCount == 1)
    }

    @Test func serverDownLongerThanReconnectWindowIsConnectionFailed() throws {
        let server = try RedisServerProcess()
        let redis = try RedisConnection(configuration: try configuration(server) { $0.reconnectWindow = 1 })
        var attempts: [Int] = []
        redis.onReconnectAttempt = { attempt, error in
            attempts.append(attempt)
            #expect(error.code == .connectionFailed)
        }
        server.stop()
        let start = monotonicNow()
        do {
            _ = try redis.send("PING")
            Issue.record("PING succeeded with the server down")
        } catch let error as RedisError {
            #expect(error.code == .connectionFailed)
            #expect(error.message.contains("unreachable"))
        }
        let elapsed = monotonicNow() - start
        #expect(elapsed >= 0.9 && elapsed < 2.5)
        #expect(attempts.count >= 3)
        #expect(attempts == Array(1...attempts.count))
        // Once the server is back, the same connection object works again.
        try server.start()
        #expect(try redis.send("PING").string == "PONG")
    }

    @Test func serverBackWithinTheWindowIsTransparent() throws {
        let server = try RedisServerProcess(appendOnly: true)
        let redis = try RedisConnection(configuration: try configuration(server) { $0.reconnectWindow = 30 })
        var attempts = 0
        redis.onReconnectAttempt = { _, _ in attempts += 1 }
        _ = try redis.send("HSET", "blobferry:job:stats", "copied", 12)
        server.stop()
        let restarting = Background {
            Thread.sleep(forTimeInterval: 1.2)
            try server.start()
        }
        defer { _ = restarting.wait() }  // even when an expectation throws
        #expect(try redis.send("HGET", "blobferry:job:stats", "copied").int == 12)
        try restarting.wait().get()
        #expect(attempts >= 1)
        #expect(redis.reconnectCount == 1)
    }

    @Test func reconnectWaitsWhileTheServerIsLoadingItsData() throws {
        let server = try RedisServerProcess(appendOnly: true, extraArguments: ["--enable-debug-command", "yes"])
        let redis = try RedisConnection(configuration: try configuration(server) { $0.reconnectWindow = 60 })
        // Enough data that loading it after a restart takes most of a second.
        _ = try redis.send("DEBUG", "POPULATE", 1_000_000)
        _ = try redis.send("SET", "marker", "loaded")
        _ = try redis.send("BGREWRITEAOF")
        let deadline = monotonicNow() + 60
        while monotonicNow() < deadline {
            let info = try redis.send("INFO", "persistence").string ?? ""
            if info.contains("aof_rewrite_in_progress:0") && info.contains("aof_rewrite_scheduled:0") { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        var errors: [String] = []
        redis.onReconnectAttempt = { _, error in errors.append(error.message) }
        server.stop()
        let restarting = Background { try server.start(timeout: 60) }
        defer { _ = restarting.wait() }  // even when an expectation throws
        #expect(try redis.send("GET", "marker").string == "loaded")
        #expect(try redis.send("DBSIZE").int == 1_000_001)
        try restarting.wait().get()
        #expect(errors.contains { $0.contains("LOADING") })
    }

    @Test func initialConnectFailsFastOrWaits() throws {
        let server = try RedisServerProcess()
        let url = server.url
        server.stop()
        let start = monotonicNow()
        #expect(
            redisErrorCode { try RedisConnection(configuration: try RedisConfiguration(url: url)) }
                == .connectionFailed)
        #expect(monotonicNow() - start < 1)

        let restarting = Background {
            Thread.sleep(forTimeInterval: 0.8)
            try server.start()
        }
        defer { _ = restarting.wait() }  // even when an expectation throws
        var configuration = try RedisConfiguration(url: url)
        configuration.reconnectWindow = 30
        let redis = try RedisConnection(configuration: configuration, waitForServer: true)
        #expect(try redis.send("PING").string == "PONG")
        try restarting.wait().get()
    }
}
