import BlobferryRedis
import BlobferryTestSupport
import Foundation
import Testing

@testable import Blobferry

/// Issue 12, item 3: the one-minute rate ring, the ETA it gives, and `status --watch`
/// written to a file (not a terminal): successive snapshots.
@Suite(.serialized)
struct StatusWatchTests {
    @Test func theRateRingGivesALastMinuteRateAndTheETA() async throws {
        let harness = try await MigrationHarness(name: "rate")
        let expected = try await harness.seed((0..<120).map { "r\($0 % 5)/\($0)" })
        #expect(try await harness.run("blobferry-producer", label: "producer").status == 0)
        #expect(try await harness.run("blobferry-consumer", label: "consumer").status == 0)
        let status = try await harness.status()
        #expect(status.copied == expected.count && status.complete)
        // Every copy happened in the last minute: the window is 55 to 60 s long.
        let low = (Double(expected.count) / 60 * 10).rounded(.down) / 10 - 0.1
        let high = Double(expected.count) / 55 + 0.1
        #expect(status.ratePerSecond1m >= low && status.ratePerSecond1m <= high, "\(status.ratePerSecond1m)")
        #expect(status.etaSeconds == 0)
        // The ring: a few 5-second slots that add up to what was copied.
        let redis = try RedisConnection(configuration: try RedisConfiguration(url: harness.redis.url))
        let ring = try redis.send("HGETALL", RedisArgument(JobKeys(job: harness.job).rate))
            .decodeHash("HGETALL rate")
        #expect(!ring.isEmpty && ring.count <= 15)
        #expect(ring.values.compactMap { Int($0) }.reduce(0, +) == expected.count)
        let text = try await harness.run("blobferry", ["status"], label: "status-text")
        #expect(text.output.contains("objects/s over the last minute"), "\(text.output)")
    }

    @Test func whileListingTheETAIsUnknownAndSaysSo() async throws {
        let harness = try await MigrationHarness(name: "eta-listing")
        _ = try await harness.seed((0..<60).map { "A\($0)" })
        // No consumer and a bound of 10 keep the producer listing.
        let producer = try harness.start(
            "blobferry-producer", ["--max-queued-per-partition", "10"], label: "producer",
            environment: ["BLOBFERRY_PAGE_SIZE": "10"])
        try await harness.waitUntil("the producer lists") {
            let status = try? await harness.status()
            return status?.producer == .listing && (status?.listed ?? 0) > 0
        }
        let status = try await harness.status()
        #expect(status.etaSeconds == nil)
        let text = try await harness.run("blobferry", ["status"], label: "status-text")
        #expect(text.output.contains("listing: "), "\(text.output)")
        #expect(text.output.contains("listed so far"), "\(text.output)")
        producer.stop()
        #expect(try await producer.exitStatus(timeout: 60) == 0)
    }

    @Test func watchWithoutATerminalPrintsSuccessiveSnapshots() async throws {
        let harness = try await MigrationHarness(name: "watch")
        _ = try await harness.seed((0..<80).map { "w\($0 % 3)/\($0)" })
        let watch = try harness.start("blobferry", ["status", "--watch", "--interval", "0.3"], label: "watch")
        let watchJSON = try harness.start(
            "blobferry", ["status", "--watch", "--json", "--interval", "0.3"], label: "watch-json")
        #expect(try await harness.run("blobferry-producer", label: "producer").status == 0)
        let consumer = try harness.start(
            "blobferry-consumer", label: "consumer", environment: ["BLOBFERRY_CONCURRENCY": "2"])
        #expect(try await consumer.exitStatus(timeout: 120) == 0)
        try await Task.sleep(nanoseconds: 1_000_000_000)
        watch.stop()
        watchJSON.stop()
        #expect(try await watch.exitStatus(timeout: 30) == 0)
        #expect(try await watchJSON.exitStatus(timeout: 30) == 0)

        let text = harness.log("watch")
        let snapshots = text.components(separatedBy: "every 0.3s (Ctrl-C stops)").count - 1
        #expect(snapshots >= 3, "\(text)")
        #expect(!text.contains("\u{1B}["), "no terminal control sequences when not a terminal")
        #expect(text.contains("COMPLETE"), "\(text)")
        #expect(text.contains("over the last minute"))

        let lines = harness.log("watch-json").split(separator: "\n").filter { $0.hasPrefix("{") }
        let statuses = try lines.map { try JSONDecoder().decode(JobStatus.self, from: Data($0.utf8)) }
        #expect(statuses.count >= 3)
        #expect(statuses.last?.complete == true && statuses.last?.copied == 80)
        #expect(statuses.map(\.copied) == statuses.map(\.copied).sorted(), "copied never goes down")
    }

}
