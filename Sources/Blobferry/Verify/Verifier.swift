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
            let blobs = page.blobs.filter { !ObjectProperties.isDirectoryMarker(metadata: $0.metadata) }
            report.directoryMarkers += page.blobs.count - blobs.count
            try await check(blobs, into: &report, onDifference: onDifference)
            marker = page.nextMarker
        } while marker != nil
        return report
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
            stored = try await retry.run(logger: logger, what: "reading \(key.escapedForDisplay) from S3") {
                try await s3.digestObject(key: key)
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
            let source = try await retry.run(logger: logger, what: "reading \(blob.name.escapedForDisplay) from Azure")
            {
                try await azure.digestBlob(blob.name)
            }
            expected = Base64.encode(source.md5)
        }
        let actual = Base64.encode(stored.md5)
        return actual == expected
            ? .same(stored.size)
            : .differs(VerifyDifference(kind: .hash, name: blob.name, detail: "MD5: Azure \(expected), S3 \(actual)"))
    }
}
