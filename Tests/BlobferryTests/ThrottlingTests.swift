import BlobferryTestSupport
import Foundation
import Logging
import Synchronization
import Testing

@testable import Blobferry

/// Issue 9.4: a service saying "slow down" slows blobferry down; it never uses up a key's
/// attempts and never puts a key in `failed`. A request-rate limit can be shared by every
/// consumer of a job through Redis.
@Suite(.serialized)
struct ThrottlingTests {
    @Test func throttlingIsRetriedPastMaxAttemptsAndReported() async throws {
        var policy = RetryPolicy(maxAttempts: 2, baseDelay: 0.001, maxDelay: 0.002)
        let throttles = Mutex(0)
        policy.onThrottle = { throttles.withLock { $0 += 1 } }
        let calls = Mutex(0)
        let value = try await policy.run(logger: Logger(label: "test"), what: "a throttled call") {
            let call = calls.withLock { count -> Int in
                count += 1
                return count
            }
            if call <= 6 {
                throw RemoteError(service: .azure, kind: .transient, status: 503, code: "ServerBusy", message: "busy")
            }
            return call
        }
        #expect(value == 7)
        #expect(throttles.withLock { $0 } == 6)

        // Other transient errors still stop after maxAttempts.
        await #expect(throws: RemoteError.self) {
            try await policy.run(logger: Logger(label: "test"), what: "a failing call") {
                throw RemoteError(service: .s3, kind: .transient, status: 500, code: "InternalError", message: "x")
            }
        }
    }

    @Test func adaptiveConcurrencyHalvesOnThrottlingAndGrowsBack() {
        let concurrency = AdaptiveConcurrency(maximum: 64, cooldown: 0)
        concurrency.throttled()
        #expect(concurrency.limit == 32)
        concurrency.throttled()
        #expect(concurrency.limit == 16)
        for _ in 0..<17 { concurrency.succeeded() }
        #expect(concurrency.limit == 17, "one more per window of (about) limit successes")
        for _ in 0..<10_000 { concurrency.succeeded() }
        #expect(concurrency.limit == 64, "never above the configured concurrency")
        let slow = AdaptiveConcurrency(maximum: 64, cooldown: 60)
        slow.throttled()
        slow.throttled()
        #expect(slow.limit == 32, "one burst of 503s halves once")
    }

    /// An emulator over its account limit (503 ServerBusy above 80 requests/s) and three
    /// consumers with few attempts: every blob is copied, none fails.
    @Test func anAccountOverItsLimitFailsNoKey() async throws {
        let emulator = try AzureEmulatorProcess()
        let harness = try await MigrationHarness(name: "throttled", emulator: emulator)
        let expected = try await harness.seed((0..<240).map { "t/\($0)" })
        #expect(try await harness.run("blobferry-producer", label: "producer").status == 0)
        try emulator.configure(maxRequestsPerSecond: 80)
        let environment = ["BLOBFERRY_MAX_ATTEMPTS": "2", "BLOBFERRY_CONCURRENCY": "16"]
        let consumers = try (1...3).map {
            try harness.start("blobferry-consumer", label: "consumer-\($0)", environment: environment)
        }
        for consumer in consumers { #expect(try await consumer.exitStatus(timeout: 300) == 0) }
        let status = try await harness.status()
        #expect(status.copied == expected.count && status.failed == 0, "\(status)")
        #expect(try await harness.mismatches(expected) == [])
        let injected = try emulator.stats()["injected_failures"] as? Int ?? 0
        print("throttling: 240 blobs, 3 consumers, emulator limit 80/s: \(injected) answers were 503")
    }

    /// The shared limit: two consumers together stay within the configured rate.
    @Test func twoConsumersShareOneRequestRate() async throws {
        let emulator = try AzureEmulatorProcess()
        let harness = try await MigrationHarness(name: "rate", emulator: emulator)
        let expected = try await harness.seed((0..<160).map { "r/\($0)" })
        #expect(try await harness.run("blobferry-producer", label: "producer").status == 0)
        let before = try emulator.stats()["requests"] as? Int ?? 0
        let started = Date()
        let environment = ["BLOBFERRY_SOURCE_REQUESTS_PER_SECOND": "40"]
        let consumers = try (1...2).map {
            try harness.start("blobferry-consumer", label: "consumer-\($0)", environment: environment)
        }
        for consumer in consumers { #expect(try await consumer.exitStatus(timeout: 300) == 0) }
        let seconds = Date().timeIntervalSince(started)
        let requests = (try emulator.stats()["requests"] as? Int ?? 0) - before
        let rate = Double(requests) / seconds
        print(
            "shared rate: \(requests) Azure requests in \(String(format: "%.1f", seconds)) s = \(String(format: "%.1f", rate))/s, limit 40/s"
        )
        // Start-up checks (one listing each) are not limited; everything else is.
        #expect(Double(requests - 2) <= 40 * seconds * 1.05 + 4, "\(rate)/s against a limit of 40/s")
        #expect(try await harness.mismatches(expected) == [])
    }

    @Test func theBandwidthLimitPacesReads() async throws {
        let rate = ByteRate(bytesPerSecond: 1_000_000)
        let started = Date()
        for _ in 0..<6 { try await rate.pay(500_000) }  // 3 MB: one second of burst, then 2 s
        #expect(Date().timeIntervalSince(started) >= 1.9)
    }

    /// A consumer limited to 200 KB/s copying 1 MB takes at least four seconds.
    @Test func aConsumerKeepsToItsBandwidth() async throws {
        let harness = try await MigrationHarness(name: "bandwidth")
        let expected = try await harness.seed((0..<20).map { "bw/\($0)" }) { _ in 50_000 }
        #expect(try await harness.run("blobferry-producer", label: "producer").status == 0)
        let started = Date()
        let consumer = try await harness.run(
            "blobferry-consumer", label: "consumer", environment: ["BLOBFERRY_BANDWIDTH": "200000"])
        let seconds = Date().timeIntervalSince(started)
        #expect(consumer.status == 0, "\(consumer.output)")
        #expect(seconds >= 3.5, "1 MB at 200 KB/s took \(seconds) s")
        #expect(try await harness.mismatches(expected) == [])
    }
}
