import BlobferryCrypto
import BlobferryTestSupport
import Foundation
import Testing

@testable import Blobferry

/// Each class of copy error ends the right way: vanished, failed with its reason, retried,
/// or handed back while the consumer stops for credentials.
@Suite(.serialized)
struct ErrorClassTests {
    @Test func blobsDeletedAfterListingCountAsVanished() async throws {
        let harness = try await MigrationHarness(name: "vanished")
        let names = (0..<50).map { "keep/\($0)" }
        let expected = try await harness.seed(names)
        #expect(try await harness.run("blobferry-producer", label: "producer").status == 0)
        let deleted = names.prefix(5)
        for name in deleted { try await harness.azure.deleteBlob(name) }

        #expect(try await harness.run("blobferry-consumer", label: "consumer").status == 0)
        let status = try await harness.status()
        #expect(status.vanished == 5 && status.copied == 45 && status.failed == 0 && status.complete)
        let survivors = expected.filter { !deleted.contains($0.key) }
        #expect(try await harness.mismatches(survivors) == [])
        #expect(try await harness.bucketKeys() == Set(survivors.keys))
    }

    @Test func aKeyS3CannotHoldFailsWithItsReasonAndTheRestCopies() async throws {
        let harness = try await MigrationHarness(name: "long-key")
        // 600 characters is a legal Azure name, but 1,200 bytes of UTF-8: too long for S3.
        let tooLong = String(repeating: "é", count: 600)
        let expected = try await harness.seed(["fine/1", "fine/2", tooLong])
        #expect(try await harness.run("blobferry-producer", label: "producer").status == 0)
        #expect(try await harness.run("blobferry-consumer", label: "consumer").status == 0)

        let status = try await harness.status()
        #expect(status.failed == 1 && status.copied == 2 && status.complete)
        let report = try await harness.run("blobferry", ["status", "--failed", "5"], label: "failed-list")
        #expect(report.output.contains("1200 bytes of UTF-8, the limit is 1024"), "\(report.output)")
        #expect(try await harness.mismatches(expected.filter { $0.key != tooLong }) == [])
    }

    @Test func serverBusyIsRetriedUntilEveryBlobIsCopied() async throws {
        let emulator = try AzureEmulatorProcess(failRate: 0.3, failMethods: ["GET"], retryAfter: 1)
        let harness = try await MigrationHarness(name: "busy", emulator: emulator)
        let expected = try await harness.seed((0..<60).map { "busy/\($0)" })
        #expect(try await harness.run("blobferry-producer", label: "producer").status == 0)
        #expect(
            try await harness.run(
                "blobferry-consumer", label: "consumer", environment: ["BLOBFERRY_MAX_ATTEMPTS": "12"]
            )
            .status == 0)

        #expect(try await harness.mismatches(expected) == [])
        let status = try await harness.status()
        #expect(status.copied == 60 && status.failed == 0)
        let injected = try emulator.stats()["injected_failures"] as? Int ?? 0
        #expect(injected > 10, "the emulator should have answered many GETs with 503")
    }

    @Test func retryAfterSetsTheMinimumPause() {
        let policy = RetryPolicy(maxAttempts: 5, baseDelay: 0.01, maxDelay: 20)
        for attempt in 1...4 {
            #expect(policy.delay(after: attempt, retryAfter: 2) >= 2)
            #expect(policy.delay(after: attempt, retryAfter: nil) <= 0.01 * pow(2, Double(attempt - 1)))
        }
    }

    @Test func aSASWithoutReadPermissionStopsTheConsumerAndLeavesKeysQueued() async throws {
        let harness = try await MigrationHarness(name: "list-only-sas")
        try await harness.seed((0..<30).map { "sas/\($0)" })
        #expect(try await harness.run("blobferry-producer", label: "producer").status == 0)
        let listOnly = try AzureSAS.serviceSAS(
            account: harness.azureAccount, base64Key: harness.azureKey, container: harness.container, blob: nil,
            permissions: "l", start: nil, expiry: Date().addingTimeInterval(3600), version: AzureSAS.defaultVersion,
            protocols: nil)

        let run = try await harness.run(
            "blobferry-consumer", label: "consumer",
            environment: [
                "AZURE_STORAGE_KEY": "", "AZURE_STORAGE_SAS_TOKEN": listOnly, "BLOBFERRY_AUTH_FAILURE_LIMIT": "3",
            ])
        #expect(run.status == BlobferryError.Code.credentials.rawValue, "\(run.output)")
        let lines = run.output.split(separator: "\n").filter { $0.hasPrefix("blobferry-consumer:") }
        #expect(lines.count == 1 && lines.first?.contains("Azure rejected the credentials") == true, "\(run.output)")
        let status = try await harness.status()
        #expect(status.queued == 30 && status.copied == 0 && status.inflight == 0 && status.failed == 0)
    }
}
