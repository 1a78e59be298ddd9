import BlobferryCrypto
import BlobferryTestSupport
import Foundation
import Logging
import Synchronization
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

        // Through a counting proxy: the S3 server's requests are counted too (SeaweedFS has
        // no request counter of its own).
        let proxy = try EchoServerProcess(script: "scripts/http_proxy.py")
        let dirty = try await harness.run(
            "blobferry", ["verify", "--report", report], label: "verify-dirty",
            environment: ["HTTP_PROXY": proxy.baseURL])
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
        let stats = try await TransportTests.proxyStats(proxy, harness.http)
        for endpoint in [harness.azureEndpoint, harness.s3Endpoint] {
            let url = try #require(URL(string: endpoint))
            let host = "\(url.host ?? ""):\(url.port ?? 80)"
            #expect((stats["GET-list \(host)"] ?? 0) > 0, "\(stats)")
            #expect(stats["GET \(host)"] == nil, "\(host) read an object: \(stats)")
            // HEADs read no bytes: the start-up checks, and the md5chksum of a multipart
            // object (ListObjectsV2 carries no metadata). A handful, not one per object.
            #expect((stats["HEAD \(host)"] ?? 0) <= 5, "\(stats)")
        }

        // --download compares bytes and finds the same differences (but extra objects).
        let downloaded = try await harness.run(
            "blobferry", ["verify", "--download", "--report", report], label: "verify-download")
        #expect(downloaded.status == 1, "\(downloaded.output)")
        #expect(downloaded.output.contains("1 missing, 2 different (1 size, 1 hash)"), "\(downloaded.output)")
        #expect(try getBlobCount(emulator) > getsBefore, "--download reads bytes")
    }

    /// `--download --sample 25` compares about a quarter of the blobs: exactly the ones the
    /// deterministic sample names (Get Blob counted at the emulator: the blobs have no MD5,
    /// so each sampled one is read from Azure once, and no other is).
    @Test func aSampledDownloadReadsAboutTheRequestedShare() async throws {
        let emulator = try AzureEmulatorProcess()
        let harness = try await MigrationHarness(name: "sample", emulator: emulator)
        let names = (0..<400).map { String(format: "s/%04d", $0) }
        for name in names { try await harness.azure.putBlockBlob(name, body: Array(name.utf8)) }
        #expect(try await harness.run("blobferry-producer", label: "producer").status == 0)
        #expect(try await harness.run("blobferry-consumer", label: "consumer").status == 0)

        var sampler = Verifier(
            azure: harness.azure, s3: harness.s3, destinationPrefix: "", concurrency: 1, logger: Logger(label: "t"))
        sampler.samplePercent = 25
        let expected = names.filter { sampler.isSampled($0) }.count
        #expect((70...130).contains(expected), "a 25% sample of 400: \(expected)")
        let before = try getBlobCount(emulator)
        let sampled = try await harness.run(
            "blobferry", ["verify", "--download", "--sample", "25"], label: "verify-sample")
        #expect(sampled.status == 0, "\(sampled.output)")
        #expect(sampled.output.contains("sample: \(expected) of 400 blobs compared"), "\(sampled.output)")
        #expect(try getBlobCount(emulator) - before == expected)

        let refused = try await harness.run("blobferry", ["verify", "--sample", "25"], label: "verify-no-download")
        #expect(refused.status == 2 && refused.output.contains("--sample needs --download"), "\(refused.output)")
    }

    /// Large objects (and blobs without an MD5) are hashed range by range: the same verdicts
    /// as whole reads, a difference in the middle of a large object found.
    @Test func largeObjectsAreHashedByRanges() async throws {
        let emulator = try AzureEmulatorProcess()
        let harness = try await MigrationHarness(name: "ranges", emulator: emulator)
        let body = MigrationHarness.body(for: "large", size: 300_000)
        try await harness.azure.putBlob("large", body: body)
        try await harness.azure.putBlockBlob("large-no-md5", body: body, blockSize: 100_000)
        for name in ["large", "large-no-md5"] {
            try await harness.s3.putObject(key: name, body: body, contentMD5: Base64.encode(Digest.md5(body)))
        }
        var changed = body
        changed[150_001] ^= 0xFF
        try await harness.azure.putBlob("changed", body: body)
        try await harness.s3.putObject(key: "changed", body: changed, contentMD5: Base64.encode(Digest.md5(changed)))
        var verifier = Verifier(
            azure: harness.azure, s3: harness.s3, destinationPrefix: "", concurrency: 2, logger: Logger(label: "t"))
        verifier.rangeSize = 64 * 1024
        let found = Mutex<[VerifyDifference]>([])
        let before = try getBlobCount(emulator)
        let report = try await verifier.run { difference in found.withLock { $0.append(difference) } }
        #expect(try getBlobCount(emulator) - before == 5, "the blob without an MD5 is read in five 64 KiB ranges")
        #expect(report.checked == 3 && report.identical == 2 && report.bytes == 2 * body.count)
        #expect(found.withLock { $0.map(\.name) } == ["changed"])
        #expect(found.withLock { $0.first?.kind } == .hash)
    }
}
