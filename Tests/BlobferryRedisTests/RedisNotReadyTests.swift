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

    /// Protected mode (no password, a non-loopback client) answers DENIED and closes the
    /// connection: an error naming it at once, not a reconnect loop at full CPU.
    @Test(.enabled(if: RedisNotReadyTests.externalAddress() != nil, "needs a non-loopback IPv4 address"))
    func protectedModeFailsAtOnceWithOneLine() throws {
        let address = try #require(Self.externalAddress())
        let server = try RedisServerProcess(extraArguments: ["--bind", "127.0.0.1", address, "--protected-mode", "yes"])
        var configuration = try RedisConfiguration(url: "redis://\(address):\(server.port)/0")
        configuration.reconnectWindow = 30
        let started = monotonicNow()
        do {
            _ = try RedisConnection(configuration: configuration, waitForServer: true)
            Issue.record("a protected-mode server must refuse this client")
        } catch let error as RedisError {
            #expect(error.code == .authenticationFailed && error.message.contains("protected mode"), "\(error)")
        }
        #expect(monotonicNow() - started < 5)
    }

    /// The first IPv4 address of this machine that is not loopback.
    static func externalAddress() -> String? {
        let pipe = Pipe()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/hostname")
        process.arguments = ["-I"]
        process.standardOutput = pipe
        guard (try? process.run()) != nil else { return nil }
        process.waitUntilExit()
        let words = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(
            separator: " ")
        return words.map(String.init).first { $0.split(separator: ".").count == 4 && !$0.hasPrefix("127.") }
    }
}
