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

    /// A refusal paces the process at 90% of what the service accepted over the last second;
    /// the refusals that follow within a second are the same event.
    @Test func aRefusalPacesTheProcessAtWhatTheServiceAccepted() async throws {
        let pace = AdaptivePace()
        #expect(pace.currentRate == nil)
        for _ in 0..<100 { try await pace.admit() }
        for _ in 0..<20 { pace.refused() }
        let rate = try #require(pace.currentRate)
        #expect(rate >= 0.9 * 99 && rate < 0.9 * 99 + 3, "\(rate)")
        let started = Date()
        for _ in 0..<20 { try await pace.admit() }
        #expect(Date().timeIntervalSince(started) >= 0.15, "20 requests at about 89 a second")
    }

    /// Issue 9.4's measurement: no rate limit configured, the emulator answering 503 above
    /// `rate` requests/s, three consumers at the default concurrency of 64 each. Adaptive
    /// concurrency alone must keep 503s under 2% of requests while serving at least 85% of
    /// the emulator's rate, and no key may fail. Both are taken between 25% and 90% of the
    /// copies: the first second, 192 copies starting at once against a limit of 100 a second,
    /// and the drained tail are not the steady state (the whole run is printed too).
    /// `make throttle` runs it with 3,000 blobs and the issue's bounds.
    @Test func adaptiveConcurrencyAloneKeepsThrottlingRareAtTheServicesRate() async throws {
        // make throttle: the issue's goals, on a machine with cores to spare. make test: looser
        // bounds that a loaded machine still meets and the unpaced consumer (26% refused)
        // does not.
        let measured = ProcessInfo.processInfo.environment["BLOBFERRY_THROTTLE_BLOBS"].flatMap(Int.init)
        let count = measured ?? 2000
        let (maximumShare, minimumServed) = measured == nil ? (0.05, 0.6) : (0.02, 0.85)
        let rate = 100.0
        let emulator = try AzureEmulatorProcess()
        let harness = try await MigrationHarness(name: "aimd", emulator: emulator)
        let expected = try await harness.seed((0..<count).map { "a/\($0)" })
        #expect(try await harness.run("blobferry-producer", label: "producer").status == 0)
        try emulator.configure(latencyMs: 20, maxRequestsPerSecond: rate)
        let before = try emulator.stats()
        let consumers = try (1...3).map { try harness.start("blobferry-consumer", label: "consumer-\($0)") }
        func sample() async throws -> (copied: Int, requests: Int, throttled: Int, at: Date) {
            let copied = try await harness.status().copied
            let stats = try emulator.stats()
            return (copied, stats["requests"] as? Int ?? 0, stats["injected_failures"] as? Int ?? 0, Date())
        }
        var first = try await sample()
        while first.copied < count / 4 {
            try await Task.sleep(nanoseconds: 50_000_000)
            first = try await sample()
        }
        var last = first
        while last.copied < count * 9 / 10 {
            try await Task.sleep(nanoseconds: 50_000_000)
            last = try await sample()
        }
        for consumer in consumers { #expect(try await consumer.exitStatus(timeout: 300) == 0) }
        let after = try emulator.stats()
        func delta(_ name: String) -> Int { (after[name] as? Int ?? 0) - (before[name] as? Int ?? 0) }
        let wholeRun = Double(delta("injected_failures")) / Double(max(1, delta("requests")))
        let requests = last.requests - first.requests
        let throttled = last.throttled - first.throttled
        let served = Double(requests - throttled) / last.at.timeIntervalSince(first.at)
        let share = Double(throttled) / Double(max(1, requests))
        print(
            "adaptive concurrency alone: \(count) blobs, 3 consumers, emulator limit \(Int(rate))/s: "
                + "served \(String(format: "%.1f", served))/s (\(Int(served / rate * 100))% of the limit), "
                + "\(throttled) of \(requests) requests answered 503 (\(String(format: "%.2f", share * 100))%); "
                + "whole run: \(String(format: "%.2f", wholeRun * 100))% answered 503")
        #expect(share < maximumShare, "503s were \(share * 100)% of requests")
        #expect(served >= minimumServed * rate, "served \(served)/s of \(rate)/s")
        let status = try await harness.status()
        #expect(status.copied == count && status.failed == 0, "\(status)")
        #expect(try await harness.mismatches(expected) == [])
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
