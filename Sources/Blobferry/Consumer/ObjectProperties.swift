import BlobferryCrypto
import BlobferryHTTP
import Foundation

/// Why a blob is not written as an S3 object, decided from its first read. Thrown out of
/// one copy attempt and turned into the key's outcome; never retried (the blob would
/// answer the same way every time).
struct ObjectRefusal: Error, Sendable {
    let outcome: CopyOutcome

    static func failed(_ reason: String) -> ObjectRefusal { ObjectRefusal(outcome: .failed(reason: reason)) }
}

/// How a blob's properties become an S3 object's headers, and which blobs S3 cannot hold.
///
/// Why one place: the single-part and the multipart path must write the same properties,
/// and the README's rules (metadata over 2 KB, names S3 cannot hold, rclone's `mtime` and
/// `md5chksum`) are easier to check when they are spelled once.
enum ObjectProperties {
    /// S3's limit on user metadata: the UTF-8 bytes of every name and value, added up.
    static let maxUserMetadataBytes = 2048
    /// S3's largest object: 5 TiB.
    static let maxObjectBytes = 5 * 1024 * 1024 * 1024 * 1024
    /// rclone's names: Last-Modified as seconds since the epoch, and the base64 MD5 of an
    /// object whose ETag is not its MD5 (multipart).
    static let mtimeName = "mtime"
    static let md5Name = "md5chksum"
    /// A page or append blob's type (block blobs, the usual kind, carry nothing).
    static let blobTypeName = "azure-blob-type"
    /// Azure's marker for a directory of an account with a hierarchical namespace.
    static let folderMarkerName = "hdi_isfolder"

    /// Whether the blob is a directory marker (`hdi_isfolder=true`): skipped, not copied.
    static func isDirectoryMarker(_ blob: BlobDownload) -> Bool {
        isDirectoryMarker(metadata: blob.metadata)
    }

    static func isDirectoryMarker(metadata: [String: String]) -> Bool {
        metadata.contains { $0.key.lowercased() == folderMarkerName && $0.value.lowercased() == "true" }
    }

    /// The headers of the object copied from `blob`. `multipart`: the object's ETag will
    /// not be its MD5 (multipart, SSE-KMS), so the blob's Content-MD5 (when Azure has one)
    /// goes in `md5chksum`.
    /// Throws a refusal when the blob's metadata cannot be carried as it is: nothing is
    /// dropped silently.
    static func headers(for blob: BlobDownload, multipart: Bool, extra: [HTTPHeader] = []) throws(ObjectRefusal)
        -> S3ObjectHeaders
    {
        var metadata: [String: String] = [:]
        var used = 0
        for (name, value) in blob.metadata.sorted(by: { $0.key < $1.key }) {
            let lowered = name.lowercased()
            guard isToken(lowered) else {
                throw .failed("metadata name S3 cannot hold: '\(name.escapedForDisplay)' (not an HTTP header token)")
            }
            guard value.utf8.allSatisfy({ $0 == 0x09 || (0x20...0x7E).contains($0) }) else {
                throw .failed("metadata S3 cannot hold: the value of '\(name)' is not printable ASCII")
            }
            if lowered == mtimeName || lowered == md5Name || lowered == blobTypeName { continue }  // blobferry's
            guard metadata[lowered] == nil else {
                throw .failed("metadata S3 cannot hold: '\(name)' and another name differ only by case")
            }
            metadata[lowered] = value
            used += lowered.utf8.count + value.utf8.count
        }
        if used > maxUserMetadataBytes {
            throw .failed(
                "metadata too large for S3: \(used) bytes of names and values, S3 allows \(maxUserMetadataBytes)")
        }
        // rclone's fields go in when room remains (they are the tool's, not the blob's).
        var own: [(String, String)] = []
        if let modified = blob.lastModified { own.append((mtimeName, mtimeText(modified))) }
        if multipart, let md5 = blob.contentMD5, !md5.isEmpty { own.append((md5Name, md5)) }
        if let type = blob.blobType, type != "BlockBlob", !type.isEmpty { own.append((blobTypeName, type)) }
        for (name, value) in own where used + name.utf8.count + value.utf8.count <= maxUserMetadataBytes {
            metadata[name] = value
            used += name.utf8.count + value.utf8.count
        }
        return S3ObjectHeaders(
            contentType: blob.contentType, contentEncoding: blob.contentEncoding,
            contentLanguage: blob.contentLanguage, contentDisposition: blob.contentDisposition,
            cacheControl: blob.cacheControl, metadata: metadata, extra: extra)
    }

    /// The `x-amz-tagging` value of blob index tags: `key=value&...`, URL-encoded. Azure's
    /// tag rules (at most 10, keys up to 128 and values up to 256 characters of letters,
    /// digits, space and `+ - . / : = _`) fit inside S3's, so every tag set carries over.
    static func tagging(_ tags: [(key: String, value: String)]) -> String {
        tags.map {
            AWSURIEncoding.encode($0.key, encodeSlash: true) + "=" + AWSURIEncoding.encode($0.value, encodeSlash: true)
        }
        .joined(separator: "&")
    }

    /// Seconds since the epoch with a nine-digit fraction, as rclone writes `mtime`.
    static func mtimeText(_ date: Date) -> String {
        let nanoseconds = Int64((date.timeIntervalSince1970 * 1_000_000_000).rounded())
        let seconds = nanoseconds / 1_000_000_000
        let fraction = String(nanoseconds % 1_000_000_000)
        return "\(seconds)." + String(repeating: "0", count: 9 - fraction.count) + fraction
    }

    /// RFC 7230 token characters: what an `x-amz-meta-` header name may hold.
    private static func isToken(_ name: String) -> Bool {
        !name.isEmpty
            && name.utf8.allSatisfy { byte in
                (0x30...0x39).contains(byte) || (0x61...0x7A).contains(byte) || (0x41...0x5A).contains(byte)
                    || "!#$%&'*+-.^_`|~".utf8.contains(byte)
            }
    }
}
