import BlobferryRedis
import BlobferryTestSupport
import Foundation
import Testing

@testable import Blobferry

#if canImport(Glibc)
    import Glibc
#endif

/// "Kill anything, at any moment, and the migration still ends with every blob copied
/// once, byte for byte." A driver SIGKILLs random consumers (starting replacements),
/// SIGKILLs and restarts the producer mid-listing, SIGKILLs redis-server once (AOF,
/// appendfsync everysec) and freezes one consumer with SIGSTOP past its lease (until the
/// others reaped its claims) before resuming it with SIGCONT, while the emulator answers
/// 5% of GETs with 503 and caps list pages at an odd size. `make chaos` runs a bigger
/// version (BLOBFERRY_CHAOS_BLOBS).
@Suite(.serialized)
struct ChaosTests {
    struct Plan {
        var blobs: Int
        var consumers: Int
        var consumerKills: Int

        static func fromEnvironment() -> Plan {
            let environment = ProcessInfo.processInfo.environment
            return Plan(
                blobs: environment["BLOBFERRY_CHAOS_BLOBS"].flatMap(Int.init) ?? 2_500,
                consumers: environment["BLOBFERRY_CHAOS_CONSUMERS"].flatMap(Int.init) ?? 3,
                consumerKills: environment["BLOBFERRY_CHAOS_KILLS"].flatMap(Int.init) ?? 6)
        }
    }

    @Test func killingAnythingAtAnyMomentLosesNothing() async throws {
        let plan = Plan.fromEnvironment()
        let emulator = try AzureEmulatorProcess(latencyMs: 3, failRate: 0.05, failMethods: ["GET"], maxPage: 37)
        let harness = try await MigrationHarness(name: "chaos", emulator: emulator, redisAppendOnly: true)
        let expected = try await harness.seed(PipelineEndToEndTests.manyNames(plan.blobs))
        let settings = [
            "BLOBFERRY_LISTERS": "4", "BLOBFERRY_CONCURRENCY": "16", "BLOBFERRY_BATCH": "32",
            "BLOBFERRY_LEASE_SECONDS": "2", "BLOBFERRY_MAX_ATTEMPTS": "10", "BLOBFERRY_REDIS_OUTAGE_SECONDS": "60",
            // Tight back-pressure keeps the producer listing while the consumers work.
            "BLOBFERRY_MAX_QUEUED_PER_PARTITION": "8",
        ]
        let lease = 2.0  // BLOBFERRY_LEASE_SECONDS
        var log: [String] = []
        func note(_ line: String) {
            log.append(line)
            print("chaos: \(line)")
        }

        var generation = 0
        var generations: [Int] = []
        func startConsumer() throws -> LocalProcess {
            generation += 1
            return try harness.start(
                "blobferry-consumer", ["--id", "chaos-\(generation)"], label: "consumer-\(generation)",
                environment: settings)
        }
        var producer = try harness.start("blobferry-producer", label: "producer-1", environment: settings)
        var consumers = try (0..<plan.consumers).map { _ in try startConsumer() }
        generations = Array(1...plan.consumers)
        try await harness.waitUntil("the producer is a quarter through the listing") {
            try await harness.status().listed >= plan.blobs / 4
        }
        let listedAtKill = try await harness.status().listed
        #expect(producer.isRunning, "the producer must still be listing when it is killed")
        producer.stop(signal: SIGKILL)
        note("SIGKILL producer mid-listing (\(listedAtKill) of \(expected.count) listed), restarting it")
        producer = try harness.start("blobferry-producer", label: "producer-2", environment: settings)
        // The rest of the chaos is paced by progress, not by the clock, so a fast or a
        // loaded machine sees the same story: action k fires once k/(actions+1) of the
        // blobs are copied; the redis-server kill sits in the middle.
        var actions = Array(repeating: "consumer", count: plan.consumerKills)
        actions.insert("redis", at: actions.count / 2)
        actions.insert("freeze", at: actions.count / 4)
        var kills = 0
        var redisRestarted = false
        // The frozen consumer: its index (never killed afterwards: it must end by itself)
        // and generation, and the task that resumes it once its claims were reaped (the
        // other actions go on meanwhile): how long it stood still, whether it was reaped.
        var frozen: (index: Int, generation: Int, thaw: Task<(seconds: Double, reaped: Bool), Error>)?
        var random = SystemRandomNumberGenerator()
        let deadline = Date().addingTimeInterval(600)
        for (index, action) in actions.enumerated() {
            let milestone = (index + 1) * expected.count / (actions.count + 1)
            var copied = 0
            while Date() < deadline {
                copied = (try? await harness.status().copied) ?? copied
                if copied >= milestone { break }
                try await Task.sleep(nanoseconds: 100_000_000)
            }
            if action == "redis" {
                harness.redis.kill()
                note("at \(copied) copied: SIGKILL redis-server (AOF everysec), restarting it")
                try await Task.sleep(nanoseconds: 500_000_000)
                try harness.redis.start()
                redisRestarted = true
            } else if action == "freeze" {
                guard let index = consumers.indices.filter({ consumers[$0].isRunning }).randomElement(using: &random)
                else { continue }
                let name = "chaos-\(generations[index])"
                let pid = consumers[index].pid
                kill(pid, SIGSTOP)
                let thaw = Task {
                    defer { kill(pid, SIGCONT) }
                    return try await Self.waitUntilReaped(name, harness: harness, atLeast: 2 * lease)
                }
                frozen = (index, generations[index], thaw)
                note("at \(copied) copied: SIGSTOP \(name), SIGCONT once its claims are reaped")
            } else if let victim = consumers.indices.filter({ consumers[$0].isRunning && $0 != frozen?.index })
                .randomElement(using: &random)
            {
                consumers[victim].stop(signal: SIGKILL)
                kills += 1
                consumers[victim] = try startConsumer()
                generations[victim] = generation
                note("at \(copied) copied: SIGKILL consumer, started chaos-\(generation)")
            }
        }

        #expect(try await producer.exitStatus(timeout: 300) == 0, "\(harness.log("producer-2"))")
        for consumer in consumers {
            let status = try await consumer.exitStatus(timeout: 300)
            #expect(status == 0, "a consumer that was not killed exited \(status)")
        }
        let status = try await harness.status()
        let injected = (try? emulator.stats()["injected_failures"] as? Int) ?? 0
        if let frozen {
            let (seconds, reaped) = try await frozen.thaw.value
            let log = harness.log("consumer-\(frozen.generation)")
            let closing = log.split(separator: "\n").last { $0.hasPrefix("consumer chaos-\(frozen.generation):") }
            note(
                "chaos-\(frozen.generation) was frozen \(String(format: "%.1f", seconds)) s (lease \(lease) s, reaped \(reaped)); noticed its lapsed lease: \(log.contains("lease had lapsed")); \(closing.map(String.init) ?? "no closing line")"
            )
            #expect(reaped, "chaos-\(frozen.generation) was still in the consumers set after \(Int(seconds)) s frozen")
            #expect(closing != nil, "the resumed consumer ended by itself: \(log.suffix(2_000))")
        }
        note(
            "end: \(plan.blobs + AwkwardNames.all.count) blobs, \(kills) consumer kills, producer killed at \(listedAtKill) listed, redis restarted \(redisRestarted), \(injected) injected 503s; copied \(status.copied), requeued \(status.requeued), failed \(status.failed), queued \(status.queued), in flight \(status.inflight)"
        )

        #expect(kills == plan.consumerKills)
        #expect(redisRestarted)
        #expect(frozen != nil, "a consumer was frozen past its lease and resumed")
        #expect(injected > 0)
        #expect(try await harness.mismatches(expected) == [])
        #expect(status.complete)
        #expect(status.failed == 0 && status.queued == 0 && status.inflight == 0)
        #expect(status.partitions.reduce(0) { $0 + $1.done } == expected.count)
        #expect(status.copied == expected.count)
    }

    /// Waits (at most 60 s) until the consumer named `name` is no longer in the consumers
    /// set (its lease expired and a live consumer reaped its claims) and at least `atLeast`
    /// seconds passed; returns the seconds waited and whether it was reaped.
    static func waitUntilReaped(_ name: String, harness: MigrationHarness, atLeast: Double) async throws
        -> (seconds: Double, reaped: Bool)
    {
        let started = Date()
        var reaped = false
        while Date().timeIntervalSince(started) < 60 {
            let members = try await harness.redis("ZRANGE", harness.keys.consumers, "0", "-1").decodeStrings("ZRANGE")
            reaped = !members.contains { $0.hasPrefix(name + "#") }
            if reaped, Date().timeIntervalSince(started) >= atLeast { break }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        return (Date().timeIntervalSince(started), reaped)
    }
}
