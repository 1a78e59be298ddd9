import BlobferryCrypto
import Foundation
import Logging

/// One way a blob and its S3 object differ. Handed to the caller as it is found (written
/// to the report file), so a verification of millions of keys holds no list of them.
public struct VerifyDifference: Sendable, Equatable {
    public enum Kind: String, Sendable, Codable {
        /// The blob has no object.
        case missing
        /// Both exist with different sizes.
        case size
        /// Same size, different MD5.
        case hash
        /// An object under the destination prefix with no blob.
        case extra
        /// Could not be compared (after retries); the run goes on.
        case error
    }

    public var kind: Kind
    /// The blob name (for `extra`, the object's key without the destination prefix).
    public var name: String
    public var detail: String

    public init(kind: Kind, name: String, detail: String = "") {
        self.kind = kind
        self.name = name
        self.detail = detail
    }

    /// The line `verify` prints: `missing: name`, `different: name (size ...)`...
    public var displayLine: String {
        let label: String
        switch kind {
        case .missing: label = "missing"
        case .size, .hash: label = "different"
        case .extra: label = "extra"
        case .error: label = "error"
        }
        return "\(label): \(name.escapedForDisplay)" + (detail.isEmpty ? "" : " (\(detail.escapedForDisplay))")
    }
}

/// What a verification found, as counts (the differences themselves went to the sink).
public struct VerifyReport: Sendable, Equatable {
    /// Blobs looked at (directory markers excluded).
    public var checked = 0
    /// Blobs whose object has the same size and MD5 (or the same size where there was no
    /// MD5 to compare: `sizeOnly` counts those too).
    public var identical = 0
    public var sizeOnly = 0
    public var bytes = 0
    public var directoryMarkers = 0
    /// Blobs left out by `--sample` (listed, not compared).
    public var notSampled = 0
    public var counts: [VerifyDifference.Kind: Int] = [:]

    public func count(_ kind: VerifyDifference.Kind) -> Int { counts[kind] ?? 0 }
    public var isClean: Bool { counts.values.allSatisfy { $0 == 0 } }
}

/// Verifies a migration by listing both sides, downloading nothing: Azure's size and
/// Content-MD5 from List Blobs against S3's size and ETag from ListObjectsV2 (the ETag of a
/// single-part object is its MD5), and for a multipart object `x-amz-meta-md5chksum` from a
/// HEAD. A single-part ETag that differs is looked at with a HEAD too (SSE-KMS ETags are no
/// MD5). A blob without a Content-MD5, or an object whose ETag is not its MD5 and that has
/// no `md5chksum`, is compared by size only and counted as such.
///
/// Why listing: at tens of terabytes, reading every blob and object again would pay the
/// migration's egress a second time; List Blobs returns 5,000 blobs' MD5s per request.
///
/// Both listings come in key order (S3's is UTF-8 byte order, as is Azure's), so the two
/// are merged a page at a time. Azure's order is not relied on for correctness: a blob not
/// yet matched waits in `unmatchedBlobs` until S3's listing (whose order is guaranteed)
/// has passed its name, and an object not yet matched waits until the end.
public struct ListingVerifier: Sendable {
    let azure: AzureBlobClient
    let s3: S3Client
    let destinationPrefix: String
    let concurrency: Int
    let retry = RetryPolicy(maxAttempts: 5)
    let logger: Logger
    /// Page sizes (tests make them small to cross many page boundaries).
    var azurePageSize = 5000
    var s3PageSize = 1000

    public init(azure: AzureBlobClient, s3: S3Client, destinationPrefix: String, concurrency: Int, logger: Logger) {
        self.azure = azure
        self.s3 = s3
        self.destinationPrefix = destinationPrefix
        self.concurrency = max(1, concurrency)
        self.logger = logger
    }

    public func run(prefix: String = "", onDifference: @escaping @Sendable (VerifyDifference) -> Void) async throws
        -> VerifyReport
    {
        try await Preflight.checkSource(azure, logger: logger)
        try await Preflight.checkDestination(s3, logger: logger)
        var state = MergeState(report: VerifyReport(), onDifference: onDifference)
        var blobs = BlobCursor(verifier: self, prefix: prefix)
        var objects = ObjectCursor(verifier: self, prefix: destinationPrefix + prefix)
        var multipart: [(BlobItem, S3ListedObject)] = []
        while true {
            let blob = try await blobs.current()
            let object = try await objects.current()
            if blob == nil && object == nil { break }
            if let blob, object.map({ !Self.utf8Less($0.name, blob.name) }) ?? true {
                blobs.advance()
                if ObjectProperties.isDirectoryMarker(metadata: blob.metadata) {
                    state.report.directoryMarkers += 1
                    continue
                }
                state.report.checked += 1
                let match: S3ListedObject?
                if let object, object.name == blob.name {
                    objects.advance()
                    match = object.listed
                } else {
                    match = state.unmatchedObjects.removeValue(forKey: blob.name)
                }
                if let match {
                    if let pending = state.compareListed(blob, match) { multipart.append(pending) }
                } else {
                    state.unmatchedBlobs[blob.name] = blob
                }
            } else if let object {
                objects.advance()
                if let blob = state.unmatchedBlobs.removeValue(forKey: object.name) {
                    if let pending = state.compareListed(blob, object.listed) { multipart.append(pending) }
                } else {
                    state.unmatchedObjects[object.name] = object.listed
                }
                state.flushMissing(before: object.name)
            }
            if multipart.count >= 256 {
                await compareByHead(multipart, into: &state)
                multipart.removeAll(keepingCapacity: true)
            }
        }
        await compareByHead(multipart, into: &state)
        state.flushMissing(before: nil)
        for name in state.unmatchedObjects.keys.sorted(by: Self.utf8Less) {
            state.found(VerifyDifference(kind: .extra, name: name, detail: "no blob of this name"))
        }
        return state.report
    }

    /// Blob names are compared as S3 orders keys: by their UTF-8 bytes.
    static func utf8Less(_ left: String, _ right: String) -> Bool {
        left.utf8.lexicographicallyPrecedes(right.utf8)
    }

    /// Objects whose ETag is not (or may not be) their MD5: `md5chksum` and the encryption
    /// come from a HEAD (not a GET: no body is read), several at a time.
    private func compareByHead(_ pairs: [(BlobItem, S3ListedObject)], into state: inout MergeState) async {
        guard !pairs.isEmpty else { return }
        let results = await withTaskGroup(of: (Int, Result<S3ObjectHead?, Error>).self) { group in
            var results: [(Int, Result<S3ObjectHead?, Error>)] = []
            var next = 0
            func add(_ index: Int) {
                let key = pairs[index].1.key
                group.addTask {
                    do {
                        let head = try await retry.run(logger: logger, what: "HEAD \(key.escapedForDisplay)") {
                            try await s3.headObject(key: key)
                        }
                        return (index, .success(head))
                    } catch {
                        return (index, .failure(error))
                    }
                }
            }
            while next < min(concurrency, pairs.count) {
                add(next)
                next += 1
            }
            while let result = await group.next() {
                results.append(result)
                if next < pairs.count {
                    add(next)
                    next += 1
                }
            }
            return results.sorted { $0.0 < $1.0 }
        }
        for (index, result) in results {
            let (blob, object) = pairs[index]
            switch result {
            case .success(nil):
                state.found(VerifyDifference(kind: .missing, name: blob.name, detail: "deleted during verify"))
            case .success(let head?):
                state.compareHead(blob, object, head)
            case .failure(let error):
                state.found(VerifyDifference(kind: .error, name: blob.name, detail: String(describing: error)))
            }
        }
    }

    /// The merge's bookkeeping: counts, and what is waiting for its other side.
    private struct MergeState {
        var report: VerifyReport
        let onDifference: @Sendable (VerifyDifference) -> Void
        var unmatchedBlobs: [String: BlobItem] = [:]
        var unmatchedObjects: [String: S3ListedObject] = [:]
        /// When `unmatchedBlobs` is next scanned for names S3's listing has passed.
        var flushAt = 1024

        mutating func found(_ difference: VerifyDifference) {
            report.counts[difference.kind, default: 0] += 1
            onDifference(difference)
        }

        /// Compares what the listings say; returns the pair when only a HEAD can tell
        /// (multipart object, blob with an MD5).
        mutating func compareListed(_ blob: BlobItem, _ object: S3ListedObject) -> (BlobItem, S3ListedObject)? {
            guard blob.size == object.size else {
                found(
                    VerifyDifference(
                        kind: .size, name: blob.name, detail: "size: Azure \(blob.size), S3 \(object.size)"))
                return nil
            }
            guard let md5 = blob.contentMD5, !md5.isEmpty else {
                same(blob, sizeOnly: true)
                return nil
            }
            if object.etag.contains("-") { return (blob, object) }
            if Base64.decode(md5) != Self.hexBytes(object.etag) { return (blob, object) }
            same(blob, sizeOnly: false)
            return nil
        }

        /// After a HEAD: `md5chksum` when the object has one, else a single-part ETag
        /// unless SSE-KMS made it something other than the MD5.
        mutating func compareHead(_ blob: BlobItem, _ object: S3ListedObject, _ head: S3ObjectHead) {
            if let stored = head.metadata[ObjectProperties.md5Name] {
                compareHashes(blob, object, stored: stored)
            } else if object.etag.contains("-") || head.serverSideEncryption == "aws:kms" {
                same(blob, sizeOnly: true)
            } else {
                compareHashes(blob, object, stored: nil)
            }
        }

        /// `stored`: the object's `md5chksum` (multipart); nil uses the ETag.
        mutating func compareHashes(_ blob: BlobItem, _ object: S3ListedObject, stored: String?) {
            guard let md5 = blob.contentMD5, let expected = Base64.decode(md5) else {
                same(blob, sizeOnly: true)
                return
            }
            let actual = stored.map { Base64.decode($0) } ?? Self.hexBytes(object.etag)
            if actual == expected {
                same(blob, sizeOnly: false)
            } else {
                found(
                    VerifyDifference(
                        kind: .hash, name: blob.name,
                        detail: "MD5: Azure \(md5), S3 \(actual.map { Base64.encode($0) } ?? object.etag)"))
            }
        }

        mutating func same(_ blob: BlobItem, sizeOnly: Bool) {
            report.identical += 1
            report.bytes += blob.size
            if sizeOnly { report.sizeOnly += 1 }
        }

        /// Reports as missing the waiting blobs whose names S3's listing has passed
        /// (`before` nil: all of them, at the end). Scans only when the waiting set has
        /// doubled since the last scan, so the work stays linear.
        mutating func flushMissing(before name: String?) {
            if name != nil, unmatchedBlobs.count < flushAt { return }
            let passed = unmatchedBlobs.keys.filter { key in name.map { ListingVerifier.utf8Less(key, $0) } ?? true }
            for key in passed.sorted(by: ListingVerifier.utf8Less) {
                unmatchedBlobs.removeValue(forKey: key)
                found(VerifyDifference(kind: .missing, name: key, detail: "no object in S3"))
            }
            flushAt = max(1024, unmatchedBlobs.count * 2)
        }

        static func hexBytes(_ text: String) -> [UInt8]? {
            let digits = Array(text.utf8)
            guard digits.count == 32 else { return nil }
            var bytes: [UInt8] = []
            for index in stride(from: 0, to: 32, by: 2) {
                guard let high = hexValue(digits[index]), let low = hexValue(digits[index + 1]) else { return nil }
                bytes.append(high << 4 | low)
            }
            return bytes
        }

        static func hexValue(_ byte: UInt8) -> UInt8? {
            switch byte {
            case 0x30...0x39: return byte - 0x30
            case 0x61...0x66: return byte - 0x61 + 10
            case 0x41...0x46: return byte - 0x41 + 10
            default: return nil
            }
        }
    }

    /// Azure's listing, a page at a time.
    private struct BlobCursor {
        let verifier: ListingVerifier
        let prefix: String
        var page: [BlobItem] = []
        var index = 0
        var marker: String?
        var finished = false

        init(verifier: ListingVerifier, prefix: String) {
            self.verifier = verifier
            self.prefix = prefix
        }

        mutating func current() async throws -> BlobItem? {
            while index >= page.count {
                if finished { return nil }
                let (prefix, marker, size) = (self.prefix, self.marker, verifier.azurePageSize)
                let azure = verifier.azure
                let listed = try await verifier.retry.run(logger: verifier.logger, what: "listing for verify") {
                    try await azure.listBlobs(prefix: prefix, marker: marker, maxResults: size, includeMetadata: true)
                }
                page = listed.blobs
                index = 0
                self.marker = listed.nextMarker
                finished = listed.nextMarker == nil
            }
            return page[index]
        }

        mutating func advance() { index += 1 }
    }

    /// S3's listing under the destination prefix, a page at a time; names without it.
    private struct ObjectCursor {
        struct Entry {
            let name: String
            let listed: S3ListedObject
        }

        let verifier: ListingVerifier
        let prefix: String
        var page: [S3ListedObject] = []
        var index = 0
        var token: String?
        var finished = false

        init(verifier: ListingVerifier, prefix: String) {
            self.verifier = verifier
            self.prefix = prefix
        }

        mutating func current() async throws -> Entry? {
            while index >= page.count {
                if finished { return nil }
                let (prefix, token, size) = (self.prefix, self.token, verifier.s3PageSize)
                let s3 = verifier.s3
                let listed = try await verifier.retry.run(logger: verifier.logger, what: "listing S3 for verify") {
                    try await s3.listObjectEntries(prefix: prefix, continuationToken: token, maxKeys: size)
                }
                page = listed.objects
                index = 0
                self.token = listed.next
                finished = listed.next == nil
            }
            let object = page[index]
            let name = String(decoding: object.key.utf8.dropFirst(verifier.destinationPrefix.utf8.count), as: UTF8.self)
            return Entry(name: name, listed: object)
        }

        mutating func advance() { index += 1 }
    }
}
