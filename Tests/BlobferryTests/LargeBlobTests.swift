import BlobferryCrypto
import BlobferryTestSupport
import Foundation
import Testing

@testable import Blobferry

/// Blobs above the multipart threshold go to S3 part by part, fed by ranged GETs.
@Suite(.serialized)
struct LargeBlobTests {
    static let mebibyte = 1024 * 1024

    @Test func blobsAroundAndFarAboveTheThresholdArriveIntact() async throws {
        let harness = try await MigrationHarness(name: "large")
        let sizes: [String: Int] = [
            "large/empty": 0,
            "large/just-below": 5 * Self.mebibyte - 1,
            "large/exactly-threshold": 5 * Self.mebibyte,
            "large/just-above": 5 * Self.mebibyte + 1,
            "large/three-and-a-half-parts": 17 * Self.mebibyte + 12345,
            "small/neighbour": 1000,
        ]
        let names = sizes.keys.sorted()
        let expected = try await harness.seed(names) { sizes[names[$0]] ?? 0 }
        #expect(try await harness.run("blobferry-producer", label: "producer").status == 0)
        let consumer = try await harness.run(
            "blobferry-consumer", label: "consumer",
            environment: [
                "BLOBFERRY_MULTIPART_THRESHOLD": String(5 * Self.mebibyte),
                "BLOBFERRY_PART_SIZE": String(5 * Self.mebibyte), "BLOBFERRY_CONCURRENCY": "4",
            ])
        #expect(consumer.status == 0, "\(consumer.output)")

        #expect(try await harness.mismatches(expected) == [])
        let status = try await harness.status()
        #expect(status.copied == sizes.count && status.failed == 0)
        #expect(status.bytes == sizes.values.reduce(0, +))
        let head = try await harness.s3.headObject(key: "large/three-and-a-half-parts")
        #expect(head?.etag?.hasSuffix("-4\"") == true, "a multipart upload of 4 parts: \(head?.etag ?? "-")")
        #expect(head?.metadata["origin"] == "harness")
        #expect(head?.contentType == "application/x-test")
        #expect(try await harness.s3.listMultipartUploads() == [])

        // verify hashes every object as it streams, multipart ones included...
        let clean = try await harness.run("blobferry", ["verify"], label: "verify")
        #expect(clean.status == 0 && clean.output.contains("\(sizes.count) identical"), "\(clean.output)")
        // ...and names what differs or is missing.
        let tampered = [UInt8](repeating: 7, count: 100)
        _ = try await harness.s3.putObject(
            key: "large/just-above", body: tampered, contentMD5: Base64.encode(Digest.md5(tampered)))
        try await harness.s3.deleteObject(key: "small/neighbour")
        let dirty = try await harness.run(
            "blobferry", ["verify", "--report", NSTemporaryDirectory() + "verify-\(harness.job).jsonl"],
            label: "verify-dirty")
        #expect(dirty.status == 1, "\(dirty.output)")
        #expect(dirty.output.contains("different: large/just-above"), "\(dirty.output)")
        #expect(dirty.output.contains("missing: small/neighbour"), "\(dirty.output)")
    }

    @Test func partSizeGrowsToStayWithinTenThousandParts() {
        let preferred = 16 * Self.mebibyte
        #expect(MultipartPlan.partSize(for: 100 * Self.mebibyte, preferred: preferred) == preferred)
        let fiveTebibytes = 5 * 1024 * 1024 * Self.mebibyte
        let size = MultipartPlan.partSize(for: fiveTebibytes, preferred: preferred)
        #expect(size % Self.mebibyte == 0)
        #expect((fiveTebibytes + size - 1) / size <= MultipartPlan.maxParts)
        #expect(size <= 5 * 1024 * Self.mebibyte)
    }

    /// Issue 8.10: memory does not grow with blob size or concurrency. Copies
    /// `BLOBFERRY_MEMORY_BLOBS` blobs of 80 MiB at default settings (concurrency 64,
    /// multipart threshold 64 MiB, budget 256 MiB) under GNU time and checks the
    /// consumer's peak RSS stays under 512 MiB. Heavy (about 1 GiB through the emulator),
    /// so it runs under `make memory`, not `make test`.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["BLOBFERRY_MEMORY_BLOBS"] != nil))
    func peakMemoryOfAConsumerCopyingLargeBlobs() async throws {
        let count = Int(ProcessInfo.processInfo.environment["BLOBFERRY_MEMORY_BLOBS"] ?? "") ?? 12
        let harness = try await MigrationHarness(name: "memory")
        let expected = try await harness.seed((0..<count).map { "big/\($0)" }) { _ in 80 * Self.mebibyte }
        #expect(try await harness.run("blobferry-producer", label: "producer").status == 0)
        var environment = try harness.environment()
        environment["BLOBFERRY_CONCURRENCY"] = "64"
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("bf-memory-\(UUID()).log").path
        let consumer = try LocalProcess(
            "/usr/bin/time", ["-f", "peak-rss-kib %M", MigrationHarness.binary("blobferry-consumer")],
            environment: environment, logFile: log)
        #expect(try await consumer.exitStatus(timeout: 900) == 0)
        let output = try String(contentsOfFile: log, encoding: .utf8)
        let peak =
            output.split(separator: "\n").last { $0.hasPrefix("peak-rss-kib ") }
            .flatMap { Int($0.dropFirst("peak-rss-kib ".count)) } ?? -1
        print("memory: \(count) blobs of 80 MiB, consumer peak RSS \(peak / 1024) MiB")
        #expect(peak > 0 && peak < 512 * 1024, "peak RSS \(peak / 1024) MiB")
        #expect(try await harness.mismatches(expected) == [])
    }
}
