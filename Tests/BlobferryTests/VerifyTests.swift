import BlobferryCrypto
import BlobferryTestSupport
import Foundation
import Testing

@testable import Blobferry

/// Issue 11, "verification without re-reading everything": `verify` compares both listings
/// and reads no blob; `--download` still compares bytes.
@Suite(.serialized)
struct VerifyTests {
    static let mebibyte = 1024 * 1024

    func getBlobCount(_ emulator: AzureEmulatorProcess) throws -> Int {
        ((try emulator.stats()["by_operation"] as? [String: Any])?["GetBlob"] as? Int) ?? 0
    }

    func reportLines(_ path: String) throws -> [[String: String]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            (try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String]) ?? [:]
        }
    }

    /// Done when: verify of many objects by listing makes no GET request to Azure and finds
    /// a planted difference of each kind (missing, size, hash, extra); blobs without an MD5
    /// count as "size only"; a multipart object is compared by its `md5chksum`.
    @Test func verifyByListingReadsNothingAndFindsEveryKindOfDifference() async throws {
        let count = Int(ProcessInfo.processInfo.environment["BLOBFERRY_VERIFY_BLOBS"] ?? "") ?? 1500
        let emulator = try AzureEmulatorProcess(maxPage: 250)
        let harness = try await MigrationHarness(name: "verify", emulator: emulator)
        let names = (0..<count).map { String(format: "v/%05d", $0) } + AwkwardNames.all
        try await harness.seed(names) { _ in 64 }
        try await harness.azure.putBlockBlob("no-md5/block", body: Array(repeating: 3, count: 3000))
        try await harness.azure.putBlob("big/multipart", body: MigrationHarness.body(for: "m", size: 6 * Self.mebibyte))
        try await harness.azure.putBlob("folder", body: [], metadata: ["hdi_isfolder": "true"])
        #expect(try await harness.run("blobferry-producer", label: "producer").status == 0)
        let consumer = try await harness.run(
            "blobferry-consumer", label: "consumer",
            environment: [
                "BLOBFERRY_MULTIPART_THRESHOLD": String(5 * Self.mebibyte),
                "BLOBFERRY_PART_SIZE": String(5 * Self.mebibyte),
            ])
        #expect(consumer.status == 0, "\(consumer.output)")
        let total = names.count + 2

        let report = NSTemporaryDirectory() + "verify-\(harness.job).jsonl"
        let getsBefore = try getBlobCount(emulator)
        let clean = try await harness.run("blobferry", ["verify", "--report", report], label: "verify-clean")
        #expect(clean.status == 0, "\(clean.output)")
        #expect(clean.output.contains("verified \(total) blobs"), "\(clean.output)")
        #expect(clean.output.contains("\(total) identical (1 by size only"), "\(clean.output)")
        #expect(clean.output.contains("1 directory markers skipped"), "\(clean.output)")
        #expect(!FileManager.default.fileExists(atPath: report), "a clean run writes no report")

        // One difference of each kind.
        try await harness.s3.deleteObject(key: "v/00007")
        let shorter = [UInt8](repeating: 1, count: 10)
        try await harness.s3.putObject(key: "v/00100", body: shorter, contentMD5: Base64.encode(Digest.md5(shorter)))
        let sameSize = [UInt8](repeating: 2, count: 64)
        try await harness.s3.putObject(
            key: AwkwardNames.all[3], body: sameSize, contentMD5: Base64.encode(Digest.md5(sameSize)))
        try await harness.s3.putObject(key: "zz-extra", body: sameSize, contentMD5: Base64.encode(Digest.md5(sameSize)))

        let dirty = try await harness.run("blobferry", ["verify", "--report", report], label: "verify-dirty")
        #expect(dirty.status == 1, "\(dirty.output)")
        #expect(dirty.output.contains("missing: v/00007"), "\(dirty.output)")
        #expect(dirty.output.contains("different: v/00100 (size: Azure 64, S3 10)"), "\(dirty.output)")
        #expect(dirty.output.contains("extra: zz-extra"), "\(dirty.output)")
        #expect(dirty.output.contains("1 missing, 2 different (1 size, 1 hash), 1 extra"), "\(dirty.output)")
        let lines = try reportLines(report)
        #expect(
            Set(lines.map { "\($0["kind"] ?? "")=\($0["name"] ?? "")" }) == [
                "missing=v/00007", "size=v/00100", "hash=\(AwkwardNames.all[3])", "extra=zz-extra",
            ])
        #expect(try getBlobCount(emulator) == getsBefore, "verify by listing must not read a blob")

        // --download compares bytes and finds the same differences (but extra objects).
        let downloaded = try await harness.run(
            "blobferry", ["verify", "--download", "--report", report], label: "verify-download")
        #expect(downloaded.status == 1, "\(downloaded.output)")
        #expect(downloaded.output.contains("1 missing, 2 different (1 size, 1 hash)"), "\(downloaded.output)")
        #expect(try getBlobCount(emulator) > getsBefore, "--download reads bytes")
    }
}
