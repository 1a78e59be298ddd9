import BlobferryCrypto
import BlobferryHTTP
import BlobferryTestSupport
import Foundation
import Logging
import Testing

@testable import Blobferry

/// Issue 11, "every property of an object": what a copy carries to S3 (checked with boto3's
/// head_object as well as our own HEAD), and the blobs S3 gets no object for.
@Suite(.serialized)
struct ObjectPropertiesTests {
    static let mebibyte = 1024 * 1024

    func copier(_ harness: MigrationHarness) -> BlobCopier {
        BlobCopier(
            azure: harness.azure, s3: harness.s3, destinationPrefix: "", retry: RetryPolicy(maxAttempts: 3),
            multipartThreshold: 5 * Self.mebibyte, partSize: 5 * Self.mebibyte, partsInFlight: 2,
            memory: MemoryBudget(totalBytes: 64 * Self.mebibyte, concurrency: 4, partSize: 5 * Self.mebibyte),
            logger: Logger(label: "properties-test"))
    }

    static let properties = [
        HTTPHeader("x-ms-blob-content-encoding", "gzip"),
        HTTPHeader("x-ms-blob-content-language", "de-CH"),
        HTTPHeader("x-ms-blob-content-disposition", "attachment; filename=\"report 1.csv\""),
        HTTPHeader("x-ms-blob-cache-control", "public, max-age=3600"),
    ]
    static let metadata = ["Owner": "ops", "x_trace": "a-b_c"]

    /// A new bucket on moto (exact AWS semantics for storage headers): its client,
    /// endpoint and name.
    func motoBucket(_ harness: MigrationHarness, _ label: String) async throws -> (S3Client, String, String) {
        let endpoint = try TestEnvironment.value("BLOBFERRY_TEST_MOTO_ENDPOINT")
        let bucket = "bf-\(label)-\(UUID().uuidString.prefix(8).lowercased())"
        let moto = try S3Client(
            endpoint: endpoint, region: "us-east-1", bucket: bucket,
            credentials: AWSCredentials(accessKeyID: "testing", secretAccessKey: "testing"), http: harness.http)
        try await moto.createBucket()
        return (moto, endpoint, bucket)
    }

    /// head_object through boto3 (SigV4, path style), as JSON.
    func botoHead(_ harness: MigrationHarness, key: String) throws -> [String: Any] {
        try botoHead(
            endpoint: harness.s3Endpoint, accessKey: try TestEnvironment.value("BLOBFERRY_TEST_S3_ACCESS_KEY"),
            secretKey: try TestEnvironment.value("BLOBFERRY_TEST_S3_SECRET_KEY"), bucket: harness.bucket, key: key)
    }

    func botoHead(endpoint: String, accessKey: String, secretKey: String, bucket: String, key: String) throws
        -> [String: Any]
    {
        let script = """
            import boto3, json, os, sys
            from botocore.config import Config
            s3 = boto3.client("s3", endpoint_url=os.environ["EP"], region_name="us-east-1",
                aws_access_key_id=os.environ["AK"], aws_secret_access_key=os.environ["SK"],
                config=Config(s3={"addressing_style": "path"}))
            h = s3.head_object(Bucket=os.environ["BUCKET"], Key=sys.argv[1])
            print(json.dumps({k: h.get(k) for k in ["ContentType", "ContentEncoding", "ContentLanguage",
                "ContentDisposition", "CacheControl", "Metadata", "ContentLength", "ETag", "StorageClass",
                "ServerSideEncryption", "SSEKMSKeyId", "BucketKeyEnabled"]}))
            """
        let data = try runPython(
            script, key, environment: ["EP": endpoint, "AK": accessKey, "SK": secretKey, "BUCKET": bucket])
        return (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
    }

    /// Runs a Python script with `argument` and these variables; its stdout.
    func runPython(_ script: String, _ argument: String, environment extra: [String: String]) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [ProcessInfo.processInfo.environment["PYTHON"] ?? "python3", "-c", script, argument]
        process.environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "python \(script.prefix(200)) failed")
        return data
    }

    /// Done when: an object copied from a blob with every property and metadata set reads
    /// back (boto3 head_object) with the same values, its bytes identical (gzip stays
    /// gzip), and `mtime` within a second of Azure's Last-Modified; a multipart copy also
    /// carries `md5chksum`.
    @Test(arguments: [1000, 6 * 1024 * 1024 + 17])
    func everyPropertyArrives(size: Int) async throws {
        let harness = try await MigrationHarness(name: "props")
        let body = MigrationHarness.body(for: "gz", size: size)
        try await harness.azure.putBlob(
            "dir/report.csv.gz", body: body, contentType: "text/csv", metadata: Self.metadata,
            headers: Self.properties)
        let source = try await harness.azure.getBlob("dir/report.csv.gz", range: 0...0)
        let result = await copier(harness).copy(ClaimedKey(key: "dir/report.csv.gz", partition: "d"))
        guard case .finished(.copied(let bytes)) = result else {
            Issue.record("the copy did not succeed: \(result)")
            return
        }
        #expect(bytes == size)
        #expect(Digest.md5(try await harness.s3.getObject(key: "dir/report.csv.gz")) == Digest.md5(body))

        let head = try botoHead(harness, key: "dir/report.csv.gz")
        #expect(head["ContentType"] as? String == "text/csv")
        #expect(head["ContentEncoding"] as? String == "gzip")
        #expect(head["ContentLanguage"] as? String == "de-CH")
        #expect(head["ContentDisposition"] as? String == "attachment; filename=\"report 1.csv\"")
        #expect(head["CacheControl"] as? String == "public, max-age=3600")
        #expect(head["ContentLength"] as? Int == size)
        let metadata = head["Metadata"] as? [String: String] ?? [:]
        #expect(metadata["owner"] == "ops")
        #expect(metadata["x_trace"] == "a-b_c")
        let mtime = Double(metadata["mtime"] ?? "") ?? 0
        let modified = try #require(source.lastModified).timeIntervalSince1970
        #expect(abs(mtime - modified) < 1, "mtime \(metadata["mtime"] ?? "none") vs Last-Modified \(modified)")
        #expect(metadata["mtime"]?.contains(".") == true, "seconds with a fraction, as rclone writes them")
        let multipart = size > 5 * Self.mebibyte
        #expect((head["ETag"] as? String)?.contains("-") == multipart)
        #expect(
            metadata["md5chksum"] == (multipart ? Base64.encode(Digest.md5(body)) : nil),
            "md5chksum only where the ETag is not the MD5")

        // rclone reads both conventions: `lsl` shows Azure's time, `md5sum` the MD5 (from
        // md5chksum for the multipart object).
        let remote = "bf:\(harness.bucket)/dir/report.csv.gz"
        let listed = try rclone(harness, ["lsl", remote])
        let fields = listed.split(separator: " ", omittingEmptySubsequences: true)
        #expect(fields.count >= 4 && fields[0] == "\(size)", "rclone lsl: \(listed)")
        if fields.count >= 4 {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "UTC")
            formatter.dateFormat = "yyyy-MM-dd HH:mm:ss.SSSSSSSSS"
            let shown = formatter.date(from: "\(fields[1]) \(fields[2])")?.timeIntervalSince1970 ?? 0
            #expect(abs(shown - modified) < 1, "rclone lsl shows \(listed), Azure's Last-Modified is \(modified)")
        }
        let summed = try rclone(harness, ["md5sum", remote])
        let hex = Digest.md5(body).map { String(format: "%02x", $0) }.joined()
        #expect(summed.hasPrefix(hex), "rclone md5sum: \(summed), expected \(hex)")
    }

    /// Runs rclone against the test bucket (a remote `bf:` from the environment, no
    /// config file); returns its standard output.
    func rclone(_ harness: MigrationHarness, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["rclone"] + arguments
        // Only rclone's own settings: an AWS_CA_BUNDLE from the machine makes it refuse a
        // plain-http endpoint, and AWS_* credentials would compete with the remote's.
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AWS_") }
        environment.merge([
            "TZ": "UTC", "RCLONE_CONFIG": "/dev/null", "RCLONE_CONFIG_BF_TYPE": "s3",
            "RCLONE_CONFIG_BF_PROVIDER": "Other", "RCLONE_CONFIG_BF_ENDPOINT": harness.s3Endpoint,
            "RCLONE_CONFIG_BF_REGION": "us-east-1", "RCLONE_CONFIG_BF_FORCE_PATH_STYLE": "true",
            "RCLONE_CONFIG_BF_ACCESS_KEY_ID": try TestEnvironment.value("BLOBFERRY_TEST_S3_ACCESS_KEY"),
            "RCLONE_CONFIG_BF_SECRET_ACCESS_KEY": try TestEnvironment.value("BLOBFERRY_TEST_S3_SECRET_KEY"),
        ]) { _, new in new }
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "rclone \(arguments.joined(separator: " ")) failed")
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func directoryMarkersAreSkippedAndCounted() async throws {
        let harness = try await MigrationHarness(name: "marker")
        try await harness.azure.putBlob("folder", body: [], metadata: ["hdi_isfolder": "true"])
        let result = await copier(harness).copy(ClaimedKey(key: "folder", partition: "f"))
        guard case .finished(.directoryMarker) = result else {
            Issue.record("a directory marker must be skipped: \(result)")
            return
        }
        #expect(try await harness.s3.headObject(key: "folder") == nil)
    }

    @Test func archivedTooLargeAndOversizedMetadataFailWithTheirReason() async throws {
        let harness = try await MigrationHarness(name: "kinds")
        try await harness.azure.putBlob("cold", body: [1, 2, 3])
        try await harness.azure.setTier("cold", "Archive")
        var copier = copier(harness)
        guard case .finished(.failed(let archived)) = await copier.copy(ClaimedKey(key: "cold", partition: "c"))
        else {
            Issue.record("an archived blob must fail")
            return
        }
        #expect(archived == "archived: rehydrate first")

        try await harness.azure.putBlob("huge", body: Array(repeating: 7, count: 2000))
        copier.maxObjectBytes = 1000
        guard case .finished(.failed(let reason)) = await copier.copy(ClaimedKey(key: "huge", partition: "h")) else {
            Issue.record("a blob above the object limit must fail")
            return
        }
        #expect(reason.hasPrefix("too large for S3: 2000 bytes"))

        let big = ["a": String(repeating: "v", count: 1500), "b": String(repeating: "w", count: 600)]
        try await harness.azure.putBlob("meta", body: [1], metadata: big)
        guard case .finished(.failed(let metaReason)) = await copier.copy(ClaimedKey(key: "meta", partition: "m"))
        else {
            Issue.record("metadata over 2 KB must fail the blob")
            return
        }
        #expect(metaReason.contains("metadata too large for S3: 2102 bytes"))
        for key in ["cold", "huge", "meta"] { #expect(try await harness.s3.headObject(key: key) == nil) }
    }

    /// The whole pipeline: markers are counted in `directory_markers` (not copied, not
    /// failed), an archived blob lands in `failed`, everything else copies.
    @Test func aRunCountsMarkersAndFailsArchivedBlobs() async throws {
        let harness = try await MigrationHarness(name: "kinds-run")
        let names = (0..<20).map { "data/\($0)" }
        let expected = try await harness.seed(names)
        for marker in ["data", "data/sub"] {
            try await harness.azure.putBlob(marker, body: [], metadata: ["hdi_isfolder": "true"])
        }
        try await harness.azure.putBlob("archived", body: [9, 9])
        try await harness.azure.setTier("archived", "Archive")
        #expect(try await harness.run("blobferry-producer", label: "producer").status == 0)
        #expect(try await harness.run("blobferry-consumer", label: "consumer").status == 0)
        let status = try await harness.status()
        #expect(status.copied == 20 && status.directoryMarkers == 2 && status.failed == 1 && status.complete)
        #expect(try await harness.bucketKeys() == Set(names))
        #expect(try await harness.mismatches(expected) == [])
        let failed = try await harness.run("blobferry", ["status", "--failed", "10"], label: "failed")
        #expect(failed.output.contains("archived: rehydrate first"), "\(failed.output)")
    }

    /// Storage class, SSE and the ACL from the settings reach every object, single-part and
    /// multipart (moto: SeaweedFS ignores these headers); `overwrite: never` sends
    /// `If-None-Match: *` and leaves an object already there as it was.
    @Test(arguments: ["AES256", "aws:kms"])
    func storageSettingsReachEveryObjectAndNeverOverwrites(sse: String) async throws {
        let harness = try await MigrationHarness(name: "storage")
        let (moto, motoEndpoint, bucket) = try await motoBucket(harness, "storage")
        var destination = DestinationSettings()
        destination.storageClass = "STANDARD_IA"
        destination.sse = sse
        if sse == "aws:kms" {
            destination.sseKMSKeyID = "arn:aws:kms:us-east-1:123456789012:key/blobferry-test"
            destination.sseBucketKey = true
        }
        destination.acl = "bucket-owner-full-control"
        var copier = BlobCopier(
            azure: harness.azure, s3: moto, destinationPrefix: "", retry: RetryPolicy(maxAttempts: 3),
            multipartThreshold: 5 * Self.mebibyte, partSize: 5 * Self.mebibyte, partsInFlight: 2,
            memory: MemoryBudget(totalBytes: 64 * Self.mebibyte, concurrency: 4, partSize: 5 * Self.mebibyte),
            logger: Logger(label: "storage-test"), objectHeaders: destination.objectHeaders)
        let sizes = ["small": 100, "large": 6 * Self.mebibyte]
        for (name, size) in sizes {
            try await harness.azure.putBlob(name, body: MigrationHarness.body(for: name, size: size))
            let result = await copier.copy(ClaimedKey(key: name, partition: "x"))
            guard case .finished(.copied) = result else {
                Issue.record("\(name) was not copied: \(result)")
                continue
            }
            let head = try botoHead(
                endpoint: motoEndpoint, accessKey: "testing", secretKey: "testing", bucket: bucket, key: name)
            #expect(head["StorageClass"] as? String == "STANDARD_IA", "\(name): \(head)")
            #expect(head["ServerSideEncryption"] as? String == sse, "\(name): \(head)")
            if sse == "aws:kms" {
                #expect((head["SSEKMSKeyId"] as? String)?.hasSuffix("key/blobferry-test") == true, "\(name): \(head)")
                // moto keeps the bucket key flag of PutObject only, not of CreateMultipartUpload.
                if name == "small" { #expect(head["BucketKeyEnabled"] as? Bool == true, "\(name): \(head)") }
                let md5 = Base64.encode(Digest.md5(MigrationHarness.body(for: name, size: sizes[name] ?? 0)))
                #expect(
                    (head["Metadata"] as? [String: String])?["md5chksum"] == md5,
                    "an SSE-KMS ETag is no MD5, so md5chksum is written")
            }
        }

        copier.overwrite = false
        for (name, size) in sizes {
            try await harness.azure.putBlob(name, body: MigrationHarness.body(for: "new " + name, size: size))
            let result = await copier.copy(ClaimedKey(key: name, partition: "x"))
            guard case .finished(.alreadyInBucket) = result else {
                Issue.record("overwrite never must skip \(name): \(result)")
                continue
            }
            let stored = try await moto.getObject(key: name)
            #expect(Digest.md5(stored) == Digest.md5(MigrationHarness.body(for: name, size: size)))
        }
        #expect(try await moto.listMultipartUploads() == [], "a refused completion leaves no upload behind")
        let fresh = [UInt8](repeating: 5, count: 10)
        try await harness.azure.putBlob("fresh", body: fresh)
        guard case .finished(.copied) = await copier.copy(ClaimedKey(key: "fresh", partition: "f")) else {
            Issue.record("overwrite never still copies new keys")
            return
        }
    }

    /// A mapping from Azure's access tier overrides `storage_class` for the tiers it names
    /// (others keep `storage_class`), and blob index tags arrive as object tags on single-part
    /// and multipart objects; Get Blob Tags is asked only for the blobs that have tags.
    /// Against moto, which reports storage classes and tags back as AWS does.
    @Test func tierMappingAndTagsReachTheObject() async throws {
        let emulator = try AzureEmulatorProcess()
        let harness = try await MigrationHarness(name: "tiers", emulator: emulator)
        let (moto, motoEndpoint, bucket) = try await motoBucket(harness, "tiers")
        var destination = DestinationSettings()
        destination.storageClass = "ONEZONE_IA"
        destination.storageClassByTier = "Cool=STANDARD_IA, cold=GLACIER_IR"
        var copier = BlobCopier(
            azure: harness.azure, s3: moto, destinationPrefix: "", retry: RetryPolicy(maxAttempts: 3),
            multipartThreshold: 5 * Self.mebibyte, partSize: 5 * Self.mebibyte, partsInFlight: 2,
            memory: MemoryBudget(totalBytes: 64 * Self.mebibyte, concurrency: 4, partSize: 5 * Self.mebibyte),
            logger: Logger(label: "tiers-test"), objectHeaders: destination.objectHeaders)
        copier.storageClassByTier = destination.storageClassesByTier
        copier.copyTags = true
        let blobs: [(name: String, size: Int, tier: String, expected: String, tags: [String: String])] = [
            ("hot", 100, "Hot", "ONEZONE_IA", [:]),
            ("cool", 100, "Cool", "STANDARD_IA", ["project": "alpha", "path": "a b+c/d:e=f_g.h-i"]),
            ("cold-large", 6 * Self.mebibyte, "Cold", "GLACIER_IR", ["big": "yes"]),
        ]
        for blob in blobs {
            try await harness.azure.putBlob(blob.name, body: MigrationHarness.body(for: blob.name, size: blob.size))
            try await harness.azure.setTier(blob.name, blob.tier)
            if !blob.tags.isEmpty { try await harness.azure.setTags(blob.name, blob.tags) }
        }
        let tagReadsBefore = try operationCount(emulator, "GetBlobTags")
        for blob in blobs {
            let result = await copier.copy(ClaimedKey(key: blob.name, partition: "x"))
            guard case .finished(.copied) = result else {
                Issue.record("\(blob.name) was not copied: \(result)")
                continue
            }
            let head = try botoHead(
                endpoint: motoEndpoint, accessKey: "testing", secretKey: "testing", bucket: bucket, key: blob.name)
            #expect(head["StorageClass"] as? String == blob.expected, "\(blob.name): \(head)")
            let tags = try botoTags(endpoint: motoEndpoint, bucket: bucket, key: blob.name)
            #expect(tags == blob.tags, "\(blob.name)")
        }
        #expect(try operationCount(emulator, "GetBlobTags") - tagReadsBefore == 2, "only blobs with tags")
    }

    func operationCount(_ emulator: AzureEmulatorProcess, _ operation: String) throws -> Int {
        ((try emulator.stats()["by_operation"] as? [String: Any])?[operation] as? Int) ?? 0
    }

    /// get_object_tagging through boto3, as a dictionary.
    func botoTags(endpoint: String, bucket: String, key: String) throws -> [String: String] {
        let script = """
            import boto3, json, os, sys
            s3 = boto3.client("s3", endpoint_url=os.environ["EP"], region_name="us-east-1",
                aws_access_key_id="testing", aws_secret_access_key="testing")
            t = s3.get_object_tagging(Bucket=os.environ["BUCKET"], Key=sys.argv[1])
            print(json.dumps({p["Key"]: p["Value"] for p in t["TagSet"]}))
            """
        let data = try runPython(script, key, environment: ["EP": endpoint, "BUCKET": bucket])
        return (try JSONSerialization.jsonObject(with: data) as? [String: String]) ?? [:]
    }

    @Test func mappingRules() throws {
        var blob = BlobDownload(body: [], metadata: [:], totalSize: 0)
        blob.metadata = ["mtime": "2020-01-01T00:00:00Z", "Owner": "x"]
        blob.lastModified = Date(timeIntervalSince1970: 1_700_000_000)
        blob.contentMD5 = "1B2M2Y8AsgTpgAmY7PhCfg=="
        let single = try ObjectProperties.headers(for: blob, multipart: false)
        #expect(single.metadata == ["owner": "x", "mtime": "1700000000.000000000"])
        let multi = try ObjectProperties.headers(for: blob, multipart: true)
        #expect(multi.metadata["md5chksum"] == "1B2M2Y8AsgTpgAmY7PhCfg==")
        blob.blobType = "PageBlob"
        #expect(try ObjectProperties.headers(for: blob, multipart: false).metadata["azure-blob-type"] == "PageBlob")
        blob.blobType = "BlockBlob"
        #expect(try ObjectProperties.headers(for: blob, multipart: false).metadata["azure-blob-type"] == nil)
        blob.metadata = ["caf\u{E9}": "1"]
        #expect(throws: ObjectRefusal.self) { try ObjectProperties.headers(for: blob, multipart: false) }
        #expect(HTTPDate.parse("Tue, 14 Nov 2023 22:13:20 GMT") == Date(timeIntervalSince1970: 1_700_000_000))
        #expect(HTTPDate.parse(HTTPDate.rfc1123(Date(timeIntervalSince1970: 951_782_400))) != nil)
        #expect(HTTPDate.parse("garbage") == nil)
    }
}
