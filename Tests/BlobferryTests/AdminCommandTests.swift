import BlobferryTestSupport
import Foundation
import Testing

@testable import Blobferry

/// The admin commands a person runs between migrations: retry what failed, start over.
@Suite(.serialized)
struct AdminCommandTests {
    @Test func requeueFailedPutsFailedKeysBackInTheirQueue() async throws {
        let harness = try await MigrationHarness(name: "requeue")
        let tooLong = String(repeating: "é", count: 600)
        try await harness.seed(["ok/1", tooLong])
        #expect(try await harness.run("blobferry-producer", label: "producer").status == 0)
        #expect(try await harness.run("blobferry-consumer", label: "consumer").status == 0)
        #expect(try await harness.status().failed == 1)

        let requeue = try await harness.run("blobferry", ["requeue-failed"], label: "requeue")
        #expect(requeue.status == 0 && requeue.output.contains("requeued 1 failed keys"), "\(requeue.output)")
        let after = try await harness.status()
        #expect(after.failed == 0 && after.queued == 1 && !after.complete)
        #expect(after.partitions.first { $0.name == PartitionScheme.catchAll }?.queued == 1)

        // The cause is not fixed, so the next consumer fails it again, with its reason.
        #expect(try await harness.run("blobferry-consumer", label: "consumer-2").status == 0)
        let again = try await harness.status()
        #expect(again.failed == 1 && again.queued == 0 && again.complete)
    }

    @Test func resetNeedsConfirmationThenStartsTheJobOver() async throws {
        let harness = try await MigrationHarness(name: "reset")
        let expected = try await harness.seed((0..<20).map { "r/\($0)" })
        #expect(try await harness.run("blobferry-producer", label: "producer").status == 0)
        #expect(try await harness.run("blobferry-consumer", label: "consumer").status == 0)
        #expect(try await harness.status().copied == 20)

        let refused = try await harness.run("blobferry", ["reset"], label: "reset-unconfirmed")
        #expect(refused.status == BlobferryError.Code.configuration.rawValue)
        #expect(try await harness.status().copied == 20)

        let reset = try await harness.run("blobferry", ["reset", "--yes"], label: "reset")
        #expect(reset.status == 0, "\(reset.output)")
        let empty = try await harness.status()
        #expect(empty.producer == .notStarted && empty.copied == 0)
        #expect(empty.partitions.allSatisfy { $0.done == 0 && $0.queued == 0 })

        let relisted = try await harness.run("blobferry-producer", label: "producer-again")
        #expect(relisted.output.contains("enqueued 20,"), "\(relisted.output)")
        #expect(try await harness.run("blobferry-consumer", label: "consumer-again").status == 0)
        #expect(try await harness.mismatches(expected) == [])
    }

    /// Issue 8.9: a complete job with failed keys says so.
    @Test func completeWithFailuresIsShownAsSuch() {
        var status = JobStatus(
            job: "j", producer: .listed, pass: 1, listed: 3, skipped: 0, queued: 0, inflight: 0, copied: 2, bytes: 10,
            failed: 1, vanished: 0, directoryMarkers: 0, skippedExisting: 0, requeued: 0, consumers: 0, rate: 0,
            ratePerSecond1m: 0, etaSeconds: nil, complete: true, partitions: [])
        #expect(status.text().contains("COMPLETE with 1 failed"))
        status.failed = 0
        #expect(status.text().contains("COMPLETE") && !status.text().contains("failed ("))
    }
}
