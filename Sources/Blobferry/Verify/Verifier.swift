import BlobferryCrypto
import Foundation
import Logging

/// Checks a migration independently of Redis: lists the source container and compares
/// every blob with its S3 object by MD5 (the listing's Content-MD5, or the source bytes
/// when Azure has none).
public struct Verifier: Sendable {
    /// What a verification found.
    public struct Report: Sendable {
        public var checked = 0
        public var bytes = 0
        public var missing: [String] = []
        public var mismatched: [String] = []
        /// Blobs that could not be compared (after retries), with the reason: one bad
        /// object does not abort a verification of millions.
        public var errors: [(name: String, reason: String)] = []
        public var isClean: Bool { missing.isEmpty && mismatched.isEmpty && errors.isEmpty }
    }

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

    /// Verifies every blob under `prefix`, page by page (memory stays at one page).
    public func run(prefix: String = "") async throws -> Report {
        try await Preflight.checkSource(azure, logger: logger)
        try await Preflight.checkDestination(s3, logger: logger)
        var report = Report()
        var marker: String?
        repeat {
            let current = marker
            let page = try await retry.run(logger: logger, what: "listing for verify") {
                try await azure.listBlobs(prefix: prefix, marker: current, maxResults: 5000, includeMetadata: false)
            }
            try await check(page.blobs, into: &report)
            marker = page.nextMarker
        } while marker != nil
        return report
    }

    private enum Finding: Sendable { case same(Int), missing(String), different(String), error(String, String) }

    private func check(_ blobs: [BlobItem], into report: inout Report) async throws {
        try await withThrowingTaskGroup(of: Finding.self) { group in
            var pending = blobs.makeIterator()
            for _ in 0..<concurrency {
                guard let blob = pending.next() else { break }
                group.addTask { try await compare(blob) }
            }
            while let finding = try await group.next() {
                report.checked += 1
                switch finding {
                case .same(let size): report.bytes += size
                case .missing(let name): report.missing.append(name)
                case .different(let name): report.mismatched.append(name)
                case .error(let name, let reason): report.errors.append((name, reason))
                }
                if let blob = pending.next() { group.addTask { try await compare(blob) } }
            }
        }
    }

    private func compare(_ blob: BlobItem) async throws -> Finding {
        do {
            return try await compareOrThrow(blob)
        } catch let error as RemoteError where error.kind != .authorization {
            return .error(blob.name, error.description)
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
            return .missing(blob.name)
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
        return Base64.encode(stored.md5) == expected && stored.size == blob.size
            ? .same(stored.size) : .different(blob.name)
    }
}
