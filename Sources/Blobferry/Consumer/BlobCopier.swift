import BlobferryCrypto
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
/// rejects corrupted bytes), carrying Content-Type and metadata. Blobs above the multipart
/// threshold go part by part, each part fetched with a ranged GET.
struct BlobCopier: Sendable {
    let azure: AzureBlobClient
    let s3: S3Client
    let destinationPrefix: String
    let retry: RetryPolicy
    let multipartThreshold: Int
    let partSize: Int
    /// Parts of one large blob uploaded at the same time.
    let partsInFlight: Int
    let logger: Logger

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
            let bytes = try await retry.run(logger: logger, what: "copying \(item.key)") {
                try await copyOnce(item.key, to: destination)
            }
            return .finished(.copied(bytes: bytes))
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
        let head = try await firstChunk(of: name)
        if head.totalSize > head.body.count {
            try await copyMultipart(name, to: destination, firstChunk: head)
            return head.totalSize
        }
        let md5 = Base64.encode(Digest.md5(head.body))
        if let expected = head.contentMD5, !expected.isEmpty, expected != md5 {
            throw RemoteError(
                service: .azure, kind: .transient, code: "Md5Mismatch",
                message: "downloaded bytes do not match the blob's Content-MD5")
        }
        try await s3.putObject(
            key: destination, body: head.body, contentMD5: md5, contentType: head.contentType, metadata: head.metadata)
        return head.body.count
    }

    /// The blob's first `multipartThreshold` bytes (all of a small blob) and its size.
    private func firstChunk(of name: String) async throws -> BlobDownload {
        do {
            return try await azure.getBlob(name, range: 0...(multipartThreshold - 1))
        } catch let error as RemoteError where error.status == 416 {
            // An empty blob has no byte 0 to ask for.
            return try await azure.getBlob(name)
        }
    }

    /// Multipart upload fed by ranged GETs: memory stays near part size × parts in flight.
    /// Any failure aborts the upload so no orphaned parts are billed.
    private func copyMultipart(_ name: String, to destination: String, firstChunk: BlobDownload) async throws {
        let total = firstChunk.totalSize
        let size = MultipartPlan.partSize(for: total, preferred: partSize)
        let partCount = (total + size - 1) / size
        let uploadID = try await s3.createMultipartUpload(
            key: destination, contentType: firstChunk.contentType, metadata: firstChunk.metadata)
        do {
            let hasher = MD5Hasher()
            var etags: [String] = []
            var nextPart = 0
            while nextPart < partCount {
                let window = nextPart..<min(partCount, nextPart + partsInFlight)
                let results = try await withThrowingTaskGroup(of: (Int, [UInt8], String).self) { group in
                    for part in window {
                        group.addTask {
                            let range = (part * size)...(min(total, (part + 1) * size) - 1)
                            let bytes: [UInt8]
                            if range.upperBound < firstChunk.body.count {
                                bytes = Array(firstChunk.body[range])
                            } else {
                                bytes = try await retry.run(logger: logger, what: "part \(part + 1) of \(name)") {
                                    try await azure.getBlob(name, range: range).body
                                }
                            }
                            guard bytes.count == range.count else {
                                throw RemoteError(service: .azure, kind: .transient, message: "short ranged read")
                            }
                            let etag = try await retry.run(
                                logger: logger, what: "uploading part \(part + 1) of \(name)"
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
                nextPart = window.upperBound
            }
            let md5 = Base64.encode(hasher.finalize())
            if let expected = firstChunk.contentMD5, !expected.isEmpty, expected != md5 {
                throw RemoteError(
                    service: .azure, kind: .transient, code: "Md5Mismatch",
                    message: "the blob's parts do not add up to its Content-MD5")
            }
            try await s3.completeMultipartUpload(key: destination, uploadID: uploadID, partETags: etags)
        } catch {
            try? await s3.abortMultipartUpload(key: destination, uploadID: uploadID)
            throw error
        }
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
