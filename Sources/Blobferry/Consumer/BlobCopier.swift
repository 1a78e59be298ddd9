import BlobferryCrypto
import BlobferryHTTP
import Foundation
import Logging

/// How one claimed key's copy ended, from the consumer loop's point of view.
enum CopyResult: Sendable {
    /// Record this outcome in Redis.
    case finished(CopyOutcome)
    /// Credentials were rejected: hand the key back untouched.
    case rejected(RemoteError)
    /// The destination itself is gone (bucket deleted): hand the key back and stop.
    case fatal(RemoteError)
}

/// Copies one blob: GET from Azure, check its MD5, PUT to S3 with Content-MD5 (so S3
/// rejects corrupted bytes), carrying every content property and the metadata
/// (`ObjectProperties` decides how). Blobs above the multipart threshold stream part by
/// part, each part fetched with a ranged GET.
///
/// Two rules keep a copy honest and its memory bounded:
/// - **One version.** Every read after the first carries `If-Match` with the first
///   response's ETag, so a blob rewritten during a copy answers 412 (or 416 if it shrank)
///   instead of splicing two versions into one object; the copy starts again from the new
///   version, counted as an attempt, and a multipart upload completes only when every part
///   came from one ETag.
/// - **A byte budget.** Bodies are read only with bytes taken from `MemoryBudget` first.
struct BlobCopier: Sendable {
    let azure: AzureBlobClient
    let s3: S3Client
    let destinationPrefix: String
    let retry: RetryPolicy
    let multipartThreshold: Int
    let partSize: Int
    /// Parts of one large blob uploaded at the same time (fewer if the budget is small).
    let partsInFlight: Int
    let memory: MemoryBudget
    let logger: Logger
    /// Storage and access headers every object is written with (storage class, SSE, ACL).
    var objectHeaders: [HTTPHeader] = []
    /// Azure access tier (lower case) -> S3 storage class (`storage_class_by_tier`): a blob
    /// whose tier is here gets that class instead of `storage_class`. Costs one Get Blob
    /// Properties per blob when set (Get Blob does not say the tier).
    var storageClassByTier: [String: String] = [:]
    /// `copy_tags`: blob index tags become S3 object tags (one Get Blob Tags for each blob
    /// that has some, as Get Blob's `x-ms-tag-count` says).
    var copyTags = false
    /// False (`overwrite: never`): writes carry `If-None-Match: *`, and a key S3 already
    /// holds is skipped (`alreadyInBucket`) instead of replaced.
    var overwrite = true
    /// Blobs larger than this fail instead of being copied (S3's limit; tests lower it).
    var maxObjectBytes = ObjectProperties.maxObjectBytes
    /// Called after each pinned read (tests rewrite the blob mid-copy here).
    var afterPinnedRead: (@Sendable (ClosedRange<Int>) async throws -> Void)? = nil
    /// The process's bandwidth limit, when one is set: every body read is paid for here.
    var bandwidth: ByteRate? = nil

    func copy(_ item: ClaimedKey) async -> CopyResult {
        let destination = destinationPrefix + item.key
        if destination.utf8.count > S3Client.maxKeyBytes {
            return .finished(
                .failed(
                    reason:
                        "S3 cannot hold this key: \(destination.utf8.count) bytes of UTF-8, the limit is \(S3Client.maxKeyBytes)"
                ))
        }
        do {
            let bytes = try await retry.run(logger: logger, what: "copying \(item.key.escapedForDisplay)") {
                do {
                    return try await copyOnce(item.key, to: destination)
                } catch let changed as SourceChanged {
                    throw changed.asRetryable
                }
            }
            return .finished(.copied(bytes: bytes))
        } catch let refusal as ObjectRefusal {
            return .finished(refusal.outcome)
        } catch let error as RemoteError
            where !overwrite && error.service == .s3 && (error.status == 412 || error.code == "PreconditionFailed")
        {
            return .finished(.alreadyInBucket)
        } catch let error as RemoteError where error.service == .azure && error.code == "BlobArchived" {
            return .finished(.failed(reason: "archived: rehydrate first"))
        } catch let error as RemoteError {
            switch (error.kind, error.service) {
            case (.notFound, .azure) where error.code != "ContainerNotFound":
                return .finished(.vanished)
            case (.authorization, _):
                return .rejected(error)
            case (.notFound, .s3) where error.code == "NoSuchBucket", (.notFound, .azure):
                return .fatal(error)
            default:
                return .finished(.failed(reason: error.description))
            }
        } catch {
            return .finished(.failed(reason: String(describing: error)))
        }
    }

    /// One attempt; returns the bytes copied.
    private func copyOnce(_ name: String, to destination: String) async throws -> Int {
        let firstHeld = await memory.firstReads.acquire(memory.firstReadSize)
        var first: BlobDownload
        do {
            first = try await firstChunk(of: name)
            try await bandwidth?.pay(first.body.count)
        } catch {
            memory.firstReads.release(firstHeld)
            throw error
        }
        let object: S3ObjectHeaders
        do {
            object = try await withTierAndTags(try objectHeaders(for: first), of: first, name: name)
        } catch {
            memory.firstReads.release(firstHeld)
            throw error
        }
        if first.totalSize > multipartThreshold {
            // Streamed part by part; the first chunk is not kept (its bytes are read again
            // as part of part 1), so nothing is held while waiting for part budget.
            let head = first
            first.body = []
            memory.firstReads.release(firstHeld)
            try await copyMultipart(name, to: destination, head: head, object: object)
            return head.totalSize
        }
        defer { memory.firstReads.release(firstHeld) }
        var body = first.body
        if first.totalSize > body.count {
            // A blob larger than the first read and below the multipart threshold: the rest
            // in one more read of the same version, with its bytes taken from the budget.
            let restHeld = await memory.bodies.acquire(first.totalSize)
            defer { memory.bodies.release(restHeld) }
            body += try await read(name, body.count...(first.totalSize - 1), etag: first.etag)
            return try await put(body, of: first, to: destination, object: object)
        }
        return try await put(body, of: first, to: destination, object: object)
    }

    /// The object kind checks (directory marker, size), then the object's headers.
    private func objectHeaders(for first: BlobDownload) throws -> S3ObjectHeaders {
        if ObjectProperties.isDirectoryMarker(first) { throw ObjectRefusal(outcome: .directoryMarker) }
        if first.totalSize > maxObjectBytes {
            throw ObjectRefusal.failed(
                "too large for S3: \(first.totalSize) bytes, S3's object limit is \(maxObjectBytes) (5 TB)")
        }
        // Multipart and SSE-KMS objects get ETags that are not their MD5.
        let etagIsNotMD5 =
            first.totalSize > multipartThreshold
            || objectHeaders.contains { $0.name == "x-amz-server-side-encryption" && $0.value == "aws:kms" }
        return try ObjectProperties.headers(for: first, multipart: etagIsNotMD5, extra: objectHeaders)
    }

    /// What Get Blob does not say, asked for only when configured: the blob's access tier
    /// (its storage class from `storageClassByTier`) and its index tags (`copyTags`, and
    /// only for a blob that has some).
    private func withTierAndTags(_ object: S3ObjectHeaders, of first: BlobDownload, name: String) async throws
        -> S3ObjectHeaders
    {
        var object = object
        if !storageClassByTier.isEmpty, let tier = try await azure.getBlobProperties(name).accessTier,
            let storageClass = storageClassByTier[tier.lowercased()]
        {
            object.extra.removeAll { $0.name.lowercased() == "x-amz-storage-class" }
            object.extra.append(HTTPHeader("x-amz-storage-class", storageClass))
        }
        if copyTags, first.tagCount > 0 {
            object.extra.append(
                HTTPHeader("x-amz-tagging", ObjectProperties.tagging(try await azure.getBlobTags(name))))
        }
        return object
    }

    private func put(_ body: [UInt8], of blob: BlobDownload, to destination: String, object: S3ObjectHeaders)
        async throws -> Int
    {
        let md5 = Base64.encode(Digest.md5(body))
        if let expected = blob.contentMD5, !expected.isEmpty, expected != md5 {
            throw RemoteError(
                service: .azure, kind: .transient, code: "Md5Mismatch",
                message: "downloaded bytes do not match the blob's Content-MD5")
        }
        var object = object
        if !overwrite { object.extra.append(HTTPHeader("If-None-Match", "*")) }
        try await s3.putObject(key: destination, body: body, contentMD5: md5, object: object)
        return body.count
    }

    /// The blob's first bytes (all of a small blob), its size and its ETag.
    private func firstChunk(of name: String) async throws -> BlobDownload {
        do {
            return try await azure.getBlob(name, range: 0...(memory.firstReadSize - 1))
        } catch let error as RemoteError where error.status == 416 {
            // An empty blob has no byte 0 to ask for.
            return try await azure.getBlob(name)
        }
    }

    /// A later read of the same copy: pinned to `etag`, retried when transient, and a
    /// version change (412, or 416 from a blob that shrank) ends this attempt.
    private func read(_ name: String, _ range: ClosedRange<Int>, etag: String?) async throws -> [UInt8] {
        let bytes = try await retry.run(logger: logger, what: "reading \(name.escapedForDisplay) \(range)") {
            do {
                let body = try await azure.getBlob(name, range: range, ifMatch: etag).body
                try await bandwidth?.pay(body.count)
                return body
            } catch let error as RemoteError
                where error.service == .azure && (error.status == 412 || error.status == 416)
            {
                throw SourceChanged(name: name, status: error.status ?? 412)
            }
        }
        guard bytes.count == range.count else {
            throw RemoteError(service: .azure, kind: .transient, message: "short ranged read")
        }
        try await afterPinnedRead?(range)
        return bytes
    }

    /// Multipart upload fed by ranged GETs of one version, a window of parts at a time, the
    /// window's bytes taken from the budget first. Any failure aborts the upload so no
    /// orphaned parts are billed.
    private func copyMultipart(_ name: String, to destination: String, head: BlobDownload, object: S3ObjectHeaders)
        async throws
    {
        let total = head.totalSize
        let size = MultipartPlan.partSize(for: total, preferred: partSize)
        let partCount = (total + size - 1) / size
        let width = max(1, min(partsInFlight, memory.bodies.capacity / size))
        let uploadID = try await s3.createMultipartUpload(key: destination, object: object)
        do {
            let hasher = MD5Hasher()
            var etags: [String] = []
            var nextPart = 0
            while nextPart < partCount {
                let window = nextPart..<min(partCount, nextPart + width)
                let windowBytes = window.reduce(0) { $0 + min(total, ($1 + 1) * size) - $1 * size }
                try await memory.bodies.withBytes(windowBytes) {
                    let results = try await withThrowingTaskGroup(of: (Int, [UInt8], String).self) { group in
                        for part in window {
                            group.addTask {
                                let range = (part * size)...(min(total, (part + 1) * size) - 1)
                                let bytes = try await read(name, range, etag: head.etag)
                                let etag = try await retry.run(
                                    logger: logger, what: "uploading part \(part + 1) of \(name.escapedForDisplay)"
                                ) {
                                    try await s3.uploadPart(
                                        key: destination, uploadID: uploadID, partNumber: part + 1, body: bytes,
                                        contentMD5: Base64.encode(Digest.md5(bytes)))
                                }
                                return (part, bytes, etag)
                            }
                        }
                        var collected: [(Int, [UInt8], String)] = []
                        for try await result in group { collected.append(result) }
                        return collected.sorted { $0.0 < $1.0 }
                    }
                    for (_, bytes, etag) in results {
                        hasher.update(bytes)
                        etags.append(etag)
                    }
                }
                nextPart = window.upperBound
            }
            let md5 = Base64.encode(hasher.finalize())
            if let expected = head.contentMD5, !expected.isEmpty, expected != md5 {
                throw RemoteError(
                    service: .azure, kind: .transient, code: "Md5Mismatch",
                    message: "the blob's parts do not add up to its Content-MD5")
            }
            try await s3.completeMultipartUpload(
                key: destination, uploadID: uploadID, partETags: etags, ifNoneMatch: !overwrite)
        } catch {
            try? await s3.abortMultipartUpload(key: destination, uploadID: uploadID)
            throw error
        }
    }
}

/// The blob changed while it was being copied. Not retried where it happens (every read
/// of the old version would fail the same way): the whole copy starts again, as one attempt.
struct SourceChanged: Error {
    let name: String
    let status: Int

    var asRetryable: RemoteError {
        RemoteError(
            service: .azure, kind: .transient, status: status, code: "SourceChanged",
            message: "the blob changed while it was copied; copying its new version")
    }
}

/// Memory for blob bodies, in two pools so that no copy waits for bytes while holding
/// bytes another copy waits for: first reads (small, one per copy in flight) draw from
/// `firstReads`; the rest of a medium blob and the windows of multipart parts draw from
/// `bodies`, whose holders never wait for anything else.
struct MemoryBudget: Sendable {
    let firstReads: ByteBudget
    let bodies: ByteBudget
    /// How much the first read of a blob asks for: a quarter of the budget shared by the
    /// copies in flight (1 MiB at the defaults), at least 256 KiB.
    let firstReadSize: Int

    init(totalBytes: Int, concurrency: Int, partSize: Int) {
        let firstPool = totalBytes / 4
        firstReadSize = max(256 * 1024, min(partSize, firstPool / max(1, concurrency)))
        firstReads = ByteBudget(capacity: max(firstPool, firstReadSize))
        bodies = ByteBudget(capacity: max(totalBytes - firstPool, partSize))
    }
}

/// S3's multipart limits: at most 10,000 parts of at least 5 MiB (except the last).
enum MultipartPlan {
    static let maxParts = 10_000

    /// `preferred`, grown in whole MiB until the blob fits in 10,000 parts.
    static func partSize(for total: Int, preferred: Int) -> Int {
        let mebibyte = 1024 * 1024
        let needed = (total + maxParts - 1) / maxParts
        let size = max(preferred, needed)
        return (size + mebibyte - 1) / mebibyte * mebibyte
    }
}

extension BlobCopier: KeyCopier {
    func checkAccess() async throws {
        try await Preflight.checkSource(azure, logger: logger)
        try await Preflight.checkDestination(s3, logger: logger)
    }
}
