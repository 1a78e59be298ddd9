import BlobferryCrypto
import BlobferryHTTP
import BlobferryXML
import Foundation

/// The Azure Blob Storage operations blobferry needs, on one container, over the shared
/// HTTP engine. Works against Azure itself and path-style emulators
/// (`http://127.0.0.1:10000/devstoreaccount1`).
public final class AzureBlobClient: Sendable {
    /// The REST API version sent with every request.
    public static let apiVersion = "2021-12-02"
    /// The version List Blobs' `startFrom` needs, sent only on the requests that use it:
    /// a service older than it rejects the version on every call.
    public static let startFromVersion = "2026-02-06"

    public let container: String
    private let endpointPath: String
    private let executor: SignedRequestExecutor

    /// `signer` authorizes every request; the client only says what to ask for.
    public init(
        endpoint: String, container: String, signer: any RequestSigner, http: HTTPEngine, timeout: TimeInterval = 120
    ) throws {
        let trimmed = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        guard let components = URLComponents(string: trimmed), let host = components.host else {
            throw BlobferryError(.configuration, "source endpoint '\(endpoint)' is not a URL")
        }
        let endpointPath = components.percentEncodedPath
        self.endpointPath = endpointPath
        self.container = container
        self.executor = SignedRequestExecutor(
            service: .azure, origin: String(trimmed.dropLast(endpointPath.count)),
            host: components.port.map { "\(host):\($0)" } ?? host, displayHost: host, signer: signer, http: http,
            timeout: timeout)
    }

    public convenience init(
        endpoint: String, container: String, credential: AzureCredential, http: HTTPEngine,
        timeout: TimeInterval = 120
    ) throws {
        try self.init(
            endpoint: endpoint, container: container, signer: credential.signer(), http: http, timeout: timeout)
    }

    /// One page of List Blobs under `prefix`, resuming at `marker`. The body is parsed as
    /// it arrives, so the page's XML (megabytes for 5,000 blobs) is never held whole.
    /// `namesOnly`: the items carry only names, sizes and Last-Modified (no other
    /// properties), for the producer. The page carries the response's `Date`.
    /// `startFrom`: list from this name on (inclusive), with version 2026-02-06.
    public func listBlobs(
        prefix: String, marker: String?, maxResults: Int, includeMetadata: Bool = true, namesOnly: Bool = false,
        startFrom: String? = nil
    ) async throws -> BlobListPage {
        var query = [("restype", "container"), ("comp", "list"), ("maxresults", String(maxResults))]
        if !prefix.isEmpty { query.append(("prefix", prefix)) }
        if let marker, !marker.isEmpty { query.append(("marker", marker)) }
        if let startFrom, !startFrom.isEmpty { query.append(("startFrom", startFrom)) }
        if includeMetadata { query.append(("include", "metadata")) }
        let parser = ListBlobsParser(namesOnly: namesOnly)
        let version = (startFrom ?? "").isEmpty ? Self.apiVersion : Self.startFromVersion
        let response = try await send("GET", blob: nil, query: query, version: version, operation: "List Blobs") {
            parser.consume($0)
        }
        var page = try parser.finish()
        page.date = response.header("date").flatMap(HTTPDate.parse)
        return page
    }

    /// Downloads a blob, or the bytes `range` (inclusive) of it.
    /// `ifMatch`: the ETag of the version being copied; a blob rewritten since answers 412
    /// (ConditionNotMet) instead of bytes of another version.
    public func getBlob(_ name: String, range: ClosedRange<Int>? = nil, ifMatch: String? = nil) async throws
        -> BlobDownload
    {
        var headers: [HTTPHeader] = []
        if let range { headers.append(HTTPHeader("x-ms-range", "bytes=\(range.lowerBound)-\(range.upperBound)")) }
        if let ifMatch { headers.append(HTTPHeader("If-Match", ifMatch)) }
        let response = try await send("GET", blob: name, headers: headers, operation: "Get Blob")
        var totalSize = response.body.count
        if let contentRange = response.header("content-range"), let slash = contentRange.lastIndex(of: "/") {
            totalSize = Int(contentRange[contentRange.index(after: slash)...]) ?? totalSize
        }
        return BlobDownload(
            body: response.body,
            contentType: response.header("content-type"),
            contentEncoding: response.header("content-encoding"),
            contentLanguage: response.header("content-language"),
            contentDisposition: response.header("content-disposition"),
            cacheControl: response.header("cache-control"),
            lastModified: response.header("last-modified").flatMap(HTTPDate.parse),
            blobType: response.header("x-ms-blob-type"),
            contentMD5: range == nil
                ? response.header("content-md5") : response.header("x-ms-blob-content-md5"),
            metadata: Self.metadata(of: response),
            totalSize: totalSize,
            etag: response.header("etag"),
            tagCount: Int(response.header("x-ms-tag-count") ?? "") ?? 0)
    }

    /// A blob's MD5 and size, hashed as the body streams in.
    public func digestBlob(_ name: String) async throws -> StreamedDigest {
        let digest = StreamedDigest.Accumulator()
        _ = try await send("GET", blob: name, operation: "Get Blob", bodyHandler: digest.consume)
        return digest.result()
    }

    /// A blob's size and properties without its bytes.
    public func getBlobProperties(_ name: String) async throws -> BlobItem {
        let response = try await send("HEAD", blob: name, operation: "Get Blob Properties")
        var item = BlobItem(
            name: name, size: Int(response.header("content-length") ?? "") ?? 0,
            contentMD5: response.header("content-md5"), contentType: response.header("content-type"),
            metadata: Self.metadata(of: response))
        item.accessTier = response.header("x-ms-access-tier")
        return item
    }

    /// A blob's index tags (Get Blob Tags: needs the tags permission, more than Storage
    /// Blob Data Reader gives).
    public func getBlobTags(_ name: String) async throws -> [(key: String, value: String)] {
        let response = try await send("GET", blob: name, query: [("comp", "tags")], operation: "Get Blob Tags")
        guard let keys = XMLText.values(of: "Key", in: response.body),
            let values = XMLText.values(of: "Value", in: response.body), keys.count == values.count
        else {
            throw RemoteError(
                service: .azure, kind: .transient, message: "Get Blob Tags returned XML that does not parse")
        }
        return zip(keys, values).map { (key: $0, value: $1) }
    }

    /// Checks that the container exists and the credentials can read it (the preflight of
    /// every process, so bad settings fail before any key moves). Lists one blob rather
    /// than reading container properties, because a container-scoped SAS may not allow that.
    public func checkAccess() async throws {
        _ = try await listBlobs(prefix: "", marker: nil, maxResults: 1, includeMetadata: false)
    }

    // MARK: - Requests

    /// Sends one request on the container (`blob` nil) or one of its blobs, with the
    /// x-ms-date and x-ms-version every Azure request carries.
    func send(
        _ method: String, blob: String?, query: [(String, String)] = [], headers extra: [HTTPHeader] = [],
        body: [UInt8] = [], version: String = apiVersion, operation: String,
        bodyHandler: (@Sendable (UnsafeRawBufferPointer) -> Void)? = nil
    ) async throws -> HTTPResponse {
        var path = endpointPath + "/" + AWSURIEncoding.encode(container, encodeSlash: true)
        if let blob { path += "/" + AWSURIEncoding.encode(blob, encodeSlash: false) }
        var headers = extra
        headers.append(HTTPHeader("x-ms-date", HTTPDate.rfc1123(Date())))
        headers.append(HTTPHeader("x-ms-version", version))
        return try await executor.send(
            method, path: path, query: query, headers: headers, body: body, operation: operation,
            bodyHandler: bodyHandler)
    }

    private static func metadata(of response: HTTPResponse) -> [String: String] {
        var metadata: [String: String] = [:]
        for header in response.headers where header.name.lowercased().hasPrefix("x-ms-meta-") {
            metadata[String(header.name.dropFirst("x-ms-meta-".count))] = header.value
        }
        return metadata
    }
}
