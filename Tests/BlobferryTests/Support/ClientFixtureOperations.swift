import BlobferryCrypto
import BlobferryHTTP

@testable import Blobferry

// Requests only tests make: setting up and tearing down containers, buckets and blobs.
// They go through the clients' own signed-request path, so the tests exercise the same
// signing and error classification as production, but the library does not carry them.

extension AzureBlobClient {
    /// Creates the container; an existing one is fine.
    func createContainer() async throws {
        do {
            _ = try await send("PUT", blob: nil, query: [("restype", "container")], operation: "Create Container")
        } catch let error as RemoteError where error.code == "ContainerAlreadyExists" {
            return
        }
    }

    /// Uploads a block blob; `headers`: more properties (`x-ms-blob-content-encoding`...).
    func putBlob(
        _ name: String, body: [UInt8], contentType: String? = nil, metadata: [String: String] = [:],
        headers extra: [HTTPHeader] = []
    )
        async throws
    {
        var headers =
            [
                HTTPHeader("x-ms-blob-type", "BlockBlob"),
                HTTPHeader("Content-MD5", Base64.encode(Digest.md5(body))),
            ] + extra
        if let contentType { headers.append(HTTPHeader("Content-Type", contentType)) }
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            headers.append(HTTPHeader("x-ms-meta-\(key)", value))
        }
        _ = try await send("PUT", blob: name, headers: headers, body: body, operation: "Put Blob")
    }

    /// Uploads a block blob through Put Block and Put Block List without a Content-MD5, as
    /// large blobs usually are (nothing then catches bytes spliced from two versions).
    func putBlockBlob(_ name: String, body: [UInt8], blockSize: Int = 4 * 1024 * 1024) async throws {
        var ids: [String] = []
        for (index, start) in stride(from: 0, to: max(body.count, 1), by: blockSize).enumerated() {
            let id = Base64.encode(Array(String(format: "block-%06d", index).utf8))
            ids.append(id)
            _ = try await send(
                "PUT", blob: name, query: [("comp", "block"), ("blockid", id)],
                body: Array(body[start..<min(body.count, start + blockSize)]), operation: "Put Block")
        }
        let list =
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>"
            + ids.map { "<Latest>\($0)</Latest>" }.joined() + "</BlockList>"
        _ = try await send(
            "PUT", blob: name, query: [("comp", "blocklist")], body: Array(list.utf8), operation: "Put Block List")
    }

    /// Moves a blob to another access tier (Hot, Cool, Cold, Archive).
    func setTier(_ name: String, _ tier: String) async throws {
        _ = try await send(
            "PUT", blob: name, query: [("comp", "tier")], headers: [HTTPHeader("x-ms-access-tier", tier)],
            operation: "Set Blob Tier")
    }

    /// Replaces a blob's index tags (Set Blob Tags).
    func setTags(_ name: String, _ tags: [String: String]) async throws {
        let xml =
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><Tags><TagSet>"
            + tags.sorted { $0.key < $1.key }.map { "<Tag><Key>\($0.key)</Key><Value>\($0.value)</Value></Tag>" }
            .joined() + "</TagSet></Tags>"
        _ = try await send(
            "PUT", blob: name, query: [("comp", "tags")], body: Array(xml.utf8), operation: "Set Blob Tags")
    }

    /// Deletes a blob (e.g. one that vanishes between listing and copying).
    func deleteBlob(_ name: String) async throws {
        _ = try await send("DELETE", blob: name, operation: "Delete Blob")
    }
}

extension S3Client {
    /// Creates the bucket; one that already exists and is ours is fine.
    func createBucket() async throws {
        do {
            _ = try await send("PUT", key: nil, operation: "CreateBucket")
        } catch let error as RemoteError
            where error.code == "BucketAlreadyOwnedByYou" || error.code == "BucketAlreadyExists"
        {
            return
        }
    }

    func deleteObject(key: String) async throws {
        _ = try await send("DELETE", key: key, operation: "DeleteObject")
    }
}
