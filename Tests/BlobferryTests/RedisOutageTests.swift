import BlobferryTestSupport
import Foundation
import Testing

@testable import Blobferry

#if canImport(Glibc)
    import Glibc
#endif

/// Redis going away: processes keep their work, wait, reconnect and carry on; after
/// `redis_outage_seconds` they exit 5 with one line, and nothing they held is lost.
@Suite(.serialized)
struct RedisOutageTests {
    @Test func producerAndConsumerRideOutARedisRestart() async throws {
        let emulator = try AzureEmulatorProcess(latencyMs: 40, maxPage: 50)
        let harness = try await MigrationHarness(name: "outage", emulator: emulator, redisAppendOnly: true)
        let expected = try await harness.seed(PipelineEndToEndTests.manyNames(800))
        let settings = ["BLOBFERRY_REDIS_OUTAGE_SECONDS": "60", "BLOBFERRY_LISTERS": "2"]

        let producer = try harness.start("blobferry-producer", label: "producer", environment: settings)
        let consumer = try harness.start(
            "blobferry-consumer", ["--id", "steady"], label: "consumer", environment: settings)
        try await harness.waitUntil("copies are under way") { try await harness.status().copied > 50 }

        harness.redis.stop()
        try await Task.sleep(nanoseconds: 4_000_000_000)
        #expect(consumer.isRunning, "the consumer must wait for Redis, not exit")
        try harness.redis.start()

        #expect(try await producer.exitStatus(timeout: 180) == 0, "\(harness.log("producer"))")
        #expect(try await consumer.exitStatus(timeout: 180) == 0, "\(harness.log("consumer"))")
        #expect(harness.log("consumer").contains("unreachable"))
        #expect(try await harness.mismatches(expected) == [])
        let status = try await harness.status()
        #expect(status.complete && status.copied == expected.count && status.failed == 0)
    }

    @Test func aLongOutageEndsTheConsumerWithExitFiveAndLosesNothing() async throws {
        let emulator = try AzureEmulatorProcess(latencyMs: 100)
        let harness = try await MigrationHarness(name: "long-outage", emulator: emulator, redisAppendOnly: true)
        let expected = try await harness.seed(PipelineEndToEndTests.manyNames(300))
        #expect(try await harness.run("blobferry-producer", label: "producer").status == 0)

        let consumer = try harness.start(
            "blobferry-consumer", ["--id", "stranded"], label: "stranded",
            environment: ["BLOBFERRY_REDIS_OUTAGE_SECONDS": "3"])
        try await harness.waitUntil("the consumer holds claims") { try await harness.status().inflight > 0 }
        harness.redis.stop()
        let stoppedAt = Date()
        let status = try await consumer.exitStatus(timeout: 60)
        #expect(status == BlobferryError.Code.unreachable.rawValue)
        #expect(Date().timeIntervalSince(stoppedAt) < 30)
        let lines = harness.log("stranded").split(separator: "\n").filter { $0.hasPrefix("blobferry-consumer:") }
        #expect(lines.count == 1 && lines.first?.contains("unreachable") == true, "\(harness.log("stranded"))")

        // Redis comes back with the stranded claims (AOF); a new consumer takes them over.
        try harness.redis.start()
        #expect(try await harness.status().inflight > 0)
        #expect(try await harness.run("blobferry-consumer", ["--id", "rescuer"], label: "rescuer").status == 0)
        #expect(try await harness.mismatches(expected) == [])
        let final = try await harness.status()
        #expect(final.complete && final.copied == expected.count && final.failed == 0)
    }

    /// Issue 8.4: processes started while Redis is down (VMs booting before Redis) wait
    /// for it within `redis_outage_seconds` instead of exiting 5 at once.
    @Test func processesStartedBeforeRedisWaitForIt() async throws {
        let harness = try await MigrationHarness(name: "late-redis", redisAppendOnly: true)
        let expected = try await harness.seed(PipelineEndToEndTests.manyNames(60))
        harness.redis.stop()
        let settings = ["BLOBFERRY_REDIS_OUTAGE_SECONDS": "60"]
        let producer = try harness.start("blobferry-producer", label: "producer", environment: settings)
        let consumer = try harness.start("blobferry-consumer", label: "consumer", environment: settings)
        try await Task.sleep(nanoseconds: 2_000_000_000)
        #expect(producer.isRunning && consumer.isRunning, "both must wait for Redis")
        try harness.redis.start()
        #expect(try await producer.exitStatus(timeout: 120) == 0, "\(harness.log("producer"))")
        #expect(try await consumer.exitStatus(timeout: 120) == 0, "\(harness.log("consumer"))")
        #expect(try await harness.mismatches(expected) == [])
    }
}
