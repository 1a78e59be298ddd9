import BlobferryCrypto
import Foundation
import Logging

/// `verify --download`: checks a migration byte by byte, independently of Redis. Lists the
/// source container and compares every blob with its S3 object by MD5, hashing the object
/// as it streams (and the blob too when the listing has no Content-MD5), holding no body
/// whatever the size. The default, `ListingVerifier`, downloads nothing.
public struct Verifier: Sendable {
    let azure: AzureBlobClient
    let s3: S3Client
    let destinationPrefix: String
    let concurrency: Int
    let retry = RetryPolicy(maxAttempts: 5)
    let logger: Logger
    /// `--sample PERCENT`: compare only this share of the blobs (nil: all). The sample is
    /// deterministic: a blob is in it when the SHA-256 of `sampleSeed` and its name falls
    /// in the first PERCENT of the hash space, so a rerun checks the same blobs (to check
    /// others, change the seed) and blobs added later join the sample at the same rate.
    public var samplePercent: Double?
    public var sampleSeed = ""
    /// Objects (and blobs without an MD5) larger than this are read in ranges of this
    /// size, one after another, each range retried on its own and hashed once complete:
    /// memory per comparison is one range, and a failure repeats one range, not the object.
    public var rangeSize = 8 * 1024 * 1024

    public init(azure: AzureBlobClient, s3: S3Client, destinationPrefix: String, concurrency: Int, logger: Logger) {
        self.azure = azure
        self.s3 = s3
        self.destinationPrefix = destinationPrefix
        self.concurrency = max(1, concurrency)
        self.logger = logger
    }

    /// Verifies every blob under `prefix`, page by page (memory stays at one page); each
    /// difference goes to `onDifference` as it is found. One object that cannot be read
    /// (after retries) is reported and the run goes on.
    public func run(prefix: String = "", onDifference: @escaping @Sendable (VerifyDifference) -> Void)
        async throws -> VerifyReport
    {
        try await Preflight.checkSource(azure, logger: logger)
        try await Preflight.checkDestination(s3, logger: logger)
        var report = VerifyReport()
        var marker: String?
        repeat {
            let current = marker
            let page = try await retry.run(logger: logger, what: "listing for verify") {
                try await azure.listBlobs(prefix: prefix, marker: current, maxResults: 5000, includeMetadata: true)
            }
            let kept = page.blobs.filter { !ObjectProperties.isDirectoryMarker(metadata: $0.metadata) }
            report.directoryMarkers += page.blobs.count - kept.count
            let blobs = kept.filter { isSampled($0.name) }
            report.notSampled += kept.count - blobs.count
            try await check(blobs, into: &report, onDifference: onDifference)
            marker = page.nextMarker
        } while marker != nil
        return report
    }

    /// Whether `name` is in the `--sample` (always, without one).
    func isSampled(_ name: String) -> Bool {
        guard let samplePercent else { return true }
        let hash = Digest.sha256(Array((sampleSeed + "\u{0}" + name).utf8))
        let value = hash.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return Double(value) / Double(UInt64.max) * 100 < samplePercent
    }

    private enum Finding: Sendable {
        case same(Int)
        case differs(VerifyDifference)
    }

    private func check(
        _ blobs: [BlobItem], into report: inout VerifyReport,
        onDifference: @escaping @Sendable (VerifyDifference) -> Void
    ) async throws {
        try await withThrowingTaskGroup(of: Finding.self) { group in
            var pending = blobs.makeIterator()
            for _ in 0..<concurrency {
                guard let blob = pending.next() else { break }
                group.addTask { try await compare(blob) }
            }
            while let finding = try await group.next() {
                report.checked += 1
                switch finding {
                case .same(let size):
                    report.identical += 1
                    report.bytes += size
                case .differs(let difference):
                    report.counts[difference.kind, default: 0] += 1
                    onDifference(difference)
                }
                if let blob = pending.next() { group.addTask { try await compare(blob) } }
            }
        }
    }

    private func compare(_ blob: BlobItem) async throws -> Finding {
        do {
            return try await compareOrThrow(blob)
        } catch let error as RemoteError where error.kind != .authorization {
            return .differs(VerifyDifference(kind: .error, name: blob.name, detail: error.description))
        }
    }

    /// Hashes the S3 object as it streams (and the source too when the listing has no
    /// Content-MD5), holding no body.
    private func compareOrThrow(_ blob: BlobItem) async throws -> Finding {
        let key = destinationPrefix + blob.name
        let stored: StreamedDigest
        do {
            if blob.size > rangeSize, let head = try await s3.headObject(key: key) {
                // Large: its size first (a different size needs no reading), then by ranges.
                if head.size != blob.size {
                    return .differs(
                        VerifyDifference(
                            kind: .size, name: blob.name, detail: "size: Azure \(blob.size), S3 \(head.size)"))
                }
                stored = try await digestByRanges(size: head.size, what: "\(key.escapedForDisplay) from S3") {
                    try await s3.getObject(key: key, range: $0)
                }
            } else {
                stored = try await retry.run(logger: logger, what: "reading \(key.escapedForDisplay) from S3") {
                    try await s3.digestObject(key: key)
                }
            }
        } catch let error as RemoteError where error.kind == .notFound || error.code == "KeyTooLongError" {
            return .differs(VerifyDifference(kind: .missing, name: blob.name, detail: "no object in S3"))
        }
        if stored.size != blob.size {
            return .differs(
                VerifyDifference(kind: .size, name: blob.name, detail: "size: Azure \(blob.size), S3 \(stored.size)"))
        }
        let expected: String
        if let md5 = blob.contentMD5, !md5.isEmpty {
            expected = md5
        } else {
            let source: StreamedDigest
            if blob.size > rangeSize {
                source = try await digestByRanges(size: blob.size, what: "\(blob.name.escapedForDisplay) from Azure") {
                    try await azure.getBlob(blob.name, range: $0).body
                }
            } else {
                source = try await retry.run(logger: logger, what: "reading \(blob.name.escapedForDisplay) from Azure")
                {
                    try await azure.digestBlob(blob.name)
                }
            }
            expected = Base64.encode(source.md5)
        }
        let actual = Base64.encode(stored.md5)
        return actual == expected
            ? .same(stored.size)
            : .differs(VerifyDifference(kind: .hash, name: blob.name, detail: "MD5: Azure \(expected), S3 \(actual)"))
    }

    /// MD5 and size of `size` bytes read in `rangeSize` ranges, in order; each range is
    /// retried on its own and hashed only once it arrived whole.
    private func digestByRanges(
        size: Int, what: String, read: @escaping @Sendable (ClosedRange<Int>) async throws -> [UInt8]
    ) async throws -> StreamedDigest {
        let hasher = MD5Hasher()
        var offset = 0
        while offset < size {
            let range = offset...(min(size, offset + rangeSize) - 1)
            let bytes = try await retry.run(logger: logger, what: "reading \(what) \(range)") {
                let bytes = try await read(range)
                guard bytes.count == range.count else {
                    throw RemoteError(service: .s3, kind: .transient, message: "short ranged read")
                }
                return bytes
            }
            bytes.withUnsafeBytes { hasher.update($0) }
            offset += bytes.count
        }
        return StreamedDigest(md5: hasher.finalize(), size: size)
    }
}
