import BlobferryRedis
import BlobferryTestSupport
import Foundation
import Testing

/// Issue 8.4: replies that mean "not now" (a script still running, a replica after a
/// failover) are waited out within the reconnect window, not treated as fatal.
@Suite("Redis answers that mean not ready yet")
struct RedisNotReadyTests {
    @Test func busyWhileAScriptRunsIsWaitedOut() throws {
        let server = try RedisServerProcess(extraArguments: ["--busy-reply-threshold", "100"])
        let redis = try RedisConnection(configuration: try configuration(server) { $0.reconnectWindow = 20 })
        let killer = Handoff(try RedisConnection(configuration: try configuration(server)))
        let looper = Handoff(try RedisConnection(configuration: try configuration(server) { $0.commandTimeout = 30 }))
        let looping = Background { try looper.value.send("EVAL", "while true do end", "0") }
        defer { _ = looping.wait() }
        Thread.sleep(forTimeInterval: 0.3)
        let killing = Background {
            Thread.sleep(forTimeInterval: 0.7)
            return try killer.value.send("SCRIPT", "KILL")
        }
        let seen = Handoff(NSMutableArray())
        redis.onReconnectAttempt = { _, error in seen.value.add(error.message) }
        #expect(try redis.send("SET", "k", "v") == .status("OK"))
        #expect(try killing.wait().get() == .status("OK"))
        #expect((seen.value as? [String])?.contains { $0.contains("BUSY") } == true)
    }

    @Test func readOnlyReplicaFailsAfterTheWindowThenWorksOncePromoted() throws {
        let server = try RedisServerProcess(extraArguments: ["--replicaof", "127.0.0.1", "1"])
        let short = try RedisConnection(configuration: try configuration(server) { $0.reconnectWindow = 0.5 })
        do {
            _ = try short.send("SET", "k", "v")
            Issue.record("a write to a replica must not succeed")
        } catch let error as RedisError {
            #expect(error.code == .connectionFailed && error.message.contains("READONLY"))
        }

        let admin = Handoff(try RedisConnection(configuration: try configuration(server)))
        let redis = try RedisConnection(configuration: try configuration(server) { $0.reconnectWindow = 20 })
        let promoting = Background {
            Thread.sleep(forTimeInterval: 0.5)
            return try admin.value.send("REPLICAOF", "NO", "ONE")
        }
        #expect(try redis.send("SET", "k", "v") == .status("OK"))
        #expect(try promoting.wait().get() == .status("OK"))
    }
}
