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

    /// Uploads a block blob.
    func putBlob(_ name: String, body: [UInt8], contentType: String? = nil, metadata: [String: String] = [:])
        async throws
    {
        var headers = [
            HTTPHeader("x-ms-blob-type", "BlockBlob"),
            HTTPHeader("Content-MD5", Base64.encode(Digest.md5(body))),
        ]
        if let contentType { headers.append(HTTPHeader("Content-Type", contentType)) }
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            headers.append(HTTPHeader("x-ms-meta-\(key)", value))
        }
        _ = try await send("PUT", blob: name, headers: headers, body: body, operation: "Put Blob")
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
