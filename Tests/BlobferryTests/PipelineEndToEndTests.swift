import BlobferryRedis
import BlobferryTestSupport
import Foundation
import Testing

@testable import Blobferry

#if canImport(Glibc)
    import Glibc
#endif

/// The whole pipeline with the real executables, a real redis-server, SeaweedFS and the
/// Azure emulator: every test ends by comparing S3 with the source, key by key, by MD5.
@Suite(.serialized)
struct PipelineEndToEndTests {
    /// 3,000+ blobs with awkward names, one producer, three consumers.
    static func manyNames(_ count: Int) -> [String] {
        let firsts = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.~ !é😀")
        return (0..<count).map { "\(firsts[$0 % firsts.count])\($0 / firsts.count)/blob-\($0).dat" } + AwkwardNames.all
    }

    @Test func threeConsumersCopyEveryBlobByteForByte() async throws {
        let harness = try await MigrationHarness(name: "e2e")
        let expected = try await harness.seed(Self.manyNames(3_000))
        // A later pass copies again what changed at or after the second this pass starts
        // (Last-Modified has whole seconds): leave the seeding's second behind, so the
        // rerun below has nothing to copy.
        try await Task.sleep(nanoseconds: 1_100_000_000)

        let producer = try await harness.run("blobferry-producer", label: "producer")
        #expect(producer.status == 0, "\(producer.output)")
        let consumers = try (1...3).map { try harness.start("blobferry-consumer", label: "consumer-\($0)") }
        for consumer in consumers { #expect(try await consumer.exitStatus(timeout: 300) == 0) }

        #expect(try await harness.mismatches(expected) == [])
        #expect(try await harness.bucketKeys() == Set(expected.keys))
        let status = try await harness.status()
        #expect(status.complete)
        #expect(status.producer == .listed)
        #expect(status.copied == expected.count)
        #expect(status.listed == expected.count)
        #expect(status.failed == 0 && status.queued == 0 && status.inflight == 0)
        #expect(status.partitions.reduce(0) { $0 + $1.done } == expected.count)

        // Running again enqueues nothing and copies nothing.
        let again = try await harness.run("blobferry-producer", label: "producer-again")
        #expect(again.status == 0)
        #expect(again.output.contains("enqueued 0,"), "\(again.output)")
        let idle = try await harness.run("blobferry-consumer", label: "consumer-again")
        #expect(idle.status == 0)
        #expect(try await harness.status().copied == expected.count)

        // Ten new blobs: exactly those are copied.
        let added = try await harness.seed((1...10).map { "new/added-\($0)" })
        let third = try await harness.run("blobferry-producer", label: "producer-third")
        #expect(third.output.contains("enqueued 10,"), "\(third.output)")
        #expect(try await harness.run("blobferry-consumer", label: "consumer-third").status == 0)
        let final = try await harness.status()
        #expect(final.copied == expected.count + 10)
        #expect(final.complete)
        #expect(try await harness.mismatches(added) == [])
    }

    /// Issue 11: after a completed pass, some blobs are overwritten, some deleted, some
    /// added, the rest left alone; the next pass copies exactly the overwritten and new ones
    /// (S3 holds the new versions), `status` counts the re-copies apart from first copies
    /// and reports the deleted ones, `deleted` lists them, `delete-removed` deletes nothing
    /// without `--apply` and exactly their objects with it, and a pass with nothing changed
    /// since the previous one started copies nothing.
    @Test func aDeltaPassCopiesExactlyTheChangedAndNewBlobs() async throws {
        let harness = try await MigrationHarness(name: "delta")
        let firsts = ["A", "b", "7", "~"]
        let names = (0..<300).map { "\(firsts[$0 % firsts.count])\($0)/blob-\($0).dat" }
        let original = try await harness.seed(names)
        // Last-Modified has whole seconds and a pass copies again what changed at or after
        // the second its previous pass started: leave that second behind first.
        try await Task.sleep(nanoseconds: 1_100_000_000)
        #expect(try await harness.run("blobferry-producer", label: "producer-1").status == 0)
        #expect(try await harness.run("blobferry-consumer", label: "consumer-1").status == 0)
        #expect(try await harness.status().copied == names.count)

        let overwritten = names.enumerated().filter { $0.offset % 7 == 3 }.map(\.element)
        let rewritten = try await harness.seed(overwritten, size: { 6_000 + $0 })
        let added = try await harness.seed((1...15).map { "delta/new-\($0)" })
        let deleted = names.enumerated().filter { $0.offset % 11 == 5 && $0.offset % 7 != 3 }.map(\.element)
        for name in deleted { try await harness.azure.deleteBlob(name) }
        try await Task.sleep(nanoseconds: 1_100_000_000)
        let second = try await harness.run("blobferry-producer", label: "producer-2")
        #expect(second.status == 0)
        #expect(second.output.contains("enqueued \(overwritten.count + added.count),"), "\(second.output)")
        #expect(try await harness.run("blobferry-consumer", label: "consumer-2").status == 0)

        let status = try await harness.status()
        let size = { (bodies: [String: [UInt8]]) in bodies.values.reduce(0) { $0 + $1.count } }
        #expect(status.pass == 2 && status.complete)
        #expect(status.changed == overwritten.count)
        #expect(status.recopied == overwritten.count)
        #expect(status.recopiedBytes == size(rewritten))
        #expect(status.copied == names.count + added.count)
        #expect(status.bytes == size(original) + size(added))
        #expect(status.partitions.reduce(0) { $0 + $1.done } == status.copied, "copied equals the done sets")
        #expect(status.listed == names.count + added.count - deleted.count)
        #expect(status.skipped == names.count - overwritten.count - deleted.count)
        #expect(status.failed == 0 && status.queued == 0 && status.inflight == 0)
        #expect(status.deletedInSource == deleted.count && status.deletedFromS3 == 0)
        let expected = original.merging(rewritten) { $1 }.merging(added) { $1 }
        #expect(try await harness.mismatches(expected) == [])
        #expect(try await harness.bucketKeys() == Set(expected.keys))

        // The deleted ones are listed, one JSON object a line.
        let listFile = harness.logDirectory.appendingPathComponent("deleted.jsonl")
        let listed = try await harness.run("blobferry", ["deleted", "--output", listFile.path], label: "deleted")
        #expect(listed.status == 0, "\(listed.output)")
        let lines = try String(contentsOf: listFile, encoding: .utf8).split(separator: "\n")
        let listedNames = try lines.map {
            try JSONDecoder().decode([String: String].self, from: Data($0.utf8))["name"] ?? ""
        }
        #expect(Set(listedNames) == Set(deleted) && listedNames.count == deleted.count)

        // A dry run deletes nothing; --apply deletes exactly those objects.
        let dryRun = try await harness.run("blobferry", ["delete-removed"], label: "delete-dry")
        #expect(
            dryRun.status == 0 && dryRun.output.contains("would delete \(deleted.count) objects"), "\(dryRun.output)")
        #expect(try await harness.bucketKeys() == Set(expected.keys))
        let applied = try await harness.run("blobferry", ["delete-removed", "--apply"], label: "delete-apply")
        #expect(applied.status == 0 && applied.output.contains("deleted \(deleted.count) objects"), "\(applied.output)")
        #expect(try await harness.bucketKeys() == Set(expected.keys).subtracting(deleted))
        let afterDelete = try await harness.status()
        #expect(afterDelete.deletedInSource == 0 && afterDelete.deletedFromS3 == deleted.count)
        #expect(afterDelete.partitions.reduce(0) { $0 + $1.done } == afterDelete.copied - deleted.count)
        let again = try await harness.run("blobferry", ["delete-removed", "--apply"], label: "delete-again")
        #expect(again.status == 0 && again.output.contains("deleted 0 objects"), "\(again.output)")

        // Nothing changed since the second pass started: the third copies nothing.
        let third = try await harness.run("blobferry-producer", label: "producer-3")
        #expect(third.output.contains("enqueued 0,"), "\(third.output)")
        #expect(try await harness.run("blobferry-consumer", label: "consumer-3").status == 0)
        let final = try await harness.status()
        #expect(final.recopied == overwritten.count && final.copied == status.copied && final.changed == 0)
        #expect(final.deletedInSource == 0, "deleted keys left the done sets: nothing is reported twice")
    }

    @Test func producerKilledMidListingResumesWithoutLoss() async throws {
        let emulator = try AzureEmulatorProcess(latencyMs: 20, maxPage: 37)
        let harness = try await MigrationHarness(name: "producer-kill", emulator: emulator)
        let expected = try await harness.seed(Self.manyNames(1_500))

        let first = try harness.start(
            "blobferry-producer", label: "producer-1", environment: ["BLOBFERRY_LISTERS": "4"])
        try await harness.waitUntil("the producer has listed some keys") { try await harness.status().listed > 200 }
        first.stop(signal: SIGKILL)
        let partial = try await harness.status()
        #expect(partial.producer == .listing)
        #expect(partial.listed < expected.count)

        let second = try await harness.run("blobferry-producer", label: "producer-2")
        #expect(second.status == 0, "\(second.output)")
        #expect(second.output.contains("(resumed)"))
        #expect(try await harness.run("blobferry-consumer", label: "consumer").status == 0)

        #expect(try await harness.mismatches(expected) == [])
        let status = try await harness.status()
        #expect(status.complete && status.copied == expected.count && status.failed == 0)
    }

    @Test func consumerKilledMidCopyLosesNothing() async throws {
        let emulator = try AzureEmulatorProcess(latencyMs: 150)
        let harness = try await MigrationHarness(name: "consumer-kill", emulator: emulator)
        let expected = try await harness.seed(Self.manyNames(600))
        #expect(try await harness.run("blobferry-producer", label: "producer").status == 0)

        let doomed = try harness.start("blobferry-consumer", ["--id", "doomed"], label: "doomed")
        try await harness.waitUntil("the doomed consumer has copies in flight") {
            let status = try await harness.status()
            return status.copied > 20 && status.inflight > 0
        }
        doomed.stop(signal: SIGKILL)
        let orphaned = try await harness.status().inflight
        #expect(orphaned > 0)

        let survivor = try await harness.run("blobferry-consumer", ["--id", "survivor"], label: "survivor")
        #expect(survivor.status == 0, "\(survivor.output)")
        #expect(survivor.output.contains("stopped heartbeating"))

        #expect(try await harness.mismatches(expected) == [])
        let status = try await harness.status()
        #expect(status.complete && status.copied == expected.count && status.failed == 0)
        #expect(status.requeued >= orphaned)
    }

    /// Issue 8.5: Redis restarted and lost the last second of writes (AOF everysec), so a
    /// partition's cursor is behind where the producer left it. The producer (the lease
    /// holder) carries on from Redis's cursor instead of stopping with "another producer".
    @Test func aProducerCarriesOnAfterRedisLostACursorWrite() async throws {
        let emulator = try AzureEmulatorProcess(latencyMs: 60, maxPage: 10)
        let harness = try await MigrationHarness(name: "lost-cursor", emulator: emulator)
        let expected = try await harness.seed((0..<200).map { "A/\($0)" })
        // One lister: partition A stays one unit (no split), so its cursor is the one to move.
        let producer = try harness.start(
            "blobferry-producer", label: "producer",
            environment: ["BLOBFERRY_PARTITIONS": "A", "BLOBFERRY_LISTERS": "1"])
        let redis = try RedisConnection(configuration: try RedisConfiguration(url: harness.redis.url))
        let cursor = JobKeys(job: harness.job).cursor("A")
        var first = ""
        try await harness.waitUntil("a first marker is saved", timeout: 60) {
            first = try redis.send("GET", RedisArgument(cursor)).string ?? ""
            return !first.isEmpty
        }
        try await harness.waitUntil("the marker moves on", timeout: 60) {
            (try redis.send("GET", RedisArgument(cursor)).string ?? first) != first
        }
        _ = try redis.send("SET", RedisArgument(cursor), RedisArgument(first))  // the lost write
        #expect(try await producer.exitStatus(timeout: 120) == 0, "\(harness.log("producer"))")
        #expect(harness.log("producer").contains("not where this producer left it"))
        #expect(try await harness.run("blobferry-consumer", label: "consumer").status == 0)
        #expect(try await harness.mismatches(expected) == [])
        let status = try await harness.status()
        #expect(status.complete && status.copied == expected.count)
    }

    /// One producer per job: a second one waits for the lease, sees it renewed, and exits
    /// with one line; the first finishes and nothing is listed twice.
    @Test func aSecondProducerIsRefusedWhileTheFirstLists() async throws {
        // 60 pages of 150 ms: the first producer lists for longer than the second waits.
        let emulator = try AzureEmulatorProcess(latencyMs: 150, maxPage: 10)
        let harness = try await MigrationHarness(name: "two-producers", emulator: emulator)
        let expected = try await harness.seed((0..<600).map { "B/\($0)" })
        // One lister, so no split lists the 60 pages in parallel and ends the first early.
        let environment = [
            "BLOBFERRY_PARTITIONS": "B", "BLOBFERRY_PRODUCER_LEASE_SECONDS": "2", "BLOBFERRY_LISTERS": "1",
        ]
        let first = try harness.start("blobferry-producer", label: "first", environment: environment)
        try await harness.waitUntil("the first producer lists") { try await harness.status().listed > 0 }
        let second = try await harness.run("blobferry-producer", label: "second", environment: environment)
        #expect(second.status == BlobferryError.Code.failed.rawValue, "\(second.output)")
        #expect(second.output.contains("another producer is listing"))
        #expect(try await first.exitStatus(timeout: 120) == 0, "\(harness.log("first"))")
        #expect(try await harness.status().listed == expected.count)
    }
}
