import BlobferryCrypto
import BlobferryHTTP
import BlobferryXML
import Foundation

/// The S3 operations blobferry needs, on one bucket, over the shared HTTP engine. Works
/// with AWS (virtual-hosted URLs) and S3-compatible servers (path-style URLs: SeaweedFS,
/// MinIO, moto).
public final class S3Client: Sendable {
    /// S3's limit on a key's length in UTF-8 bytes.
    public static let maxKeyBytes = 1024

    public let bucket: String
    /// What a person should check when S3 refuses the credentials: the source they came
    /// from (`AWSCredentialChain`), or the static key variables.
    public let credentialsHint: String
    private let pathStyle: Bool
    private let executor: SignedRequestExecutor

    /// `endpoint` empty means AWS in `region`; `addressing` is "path", "virtual" or "" (auto).
    /// `signer` authorizes every request; the client only says what to ask for.
    public init(
        endpoint: String, region: String, bucket: String, addressing: String = "", signer: any RequestSigner,
        http: HTTPEngine, timeout: TimeInterval = 300,
        credentialsHint: String = "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"
    ) throws {
        self.credentialsHint = credentialsHint
        let base = endpoint.isEmpty ? "https://s3.\(region).amazonaws.com" : endpoint
        guard let components = URLComponents(string: base), let scheme = components.scheme,
            let host = components.host
        else {
            throw BlobferryError(.configuration, "destination endpoint '\(endpoint)' is not a URL")
        }
        let authority = components.port.map { "\(host):\($0)" } ?? host
        let pathStyle = addressing == "path" || (addressing.isEmpty && !endpoint.isEmpty)
        let bucketHost = pathStyle ? authority : "\(bucket).\(authority)"
        self.pathStyle = pathStyle
        self.bucket = bucket
        self.executor = SignedRequestExecutor(
            service: .s3, origin: "\(scheme)://\(bucketHost)", host: bucketHost, displayHost: authority,
            signer: signer, http: http, timeout: timeout)
    }

    /// Signs with SigV4 for `region` and these fixed credentials.
    public convenience init(
        endpoint: String, region: String, bucket: String, addressing: String = "",
        credentials: AWSCredentials, http: HTTPEngine, timeout: TimeInterval = 300
    ) throws {
        try self.init(
            endpoint: endpoint, region: region, bucket: bucket, addressing: addressing,
            signer: SigV4Signer(credentials: credentials, region: region, service: "s3"), http: http, timeout: timeout)
    }

    /// Uploads one object; S3 checks the bytes against `contentMD5` (base64) and rejects a
    /// corrupted body with BadDigest.
    @discardableResult
    public func putObject(
        key: String, body: [UInt8], contentMD5: String, contentType: String? = nil, metadata: [String: String] = [:]
    ) async throws -> String? {
        try await putObject(
            key: key, body: body, contentMD5: contentMD5,
            object: S3ObjectHeaders(contentType: contentType, metadata: metadata))
    }

    /// Uploads one object with every property `object` holds.
    @discardableResult
    public func putObject(key: String, body: [UInt8], contentMD5: String, object: S3ObjectHeaders) async throws
        -> String?
    {
        let headers = [HTTPHeader("Content-MD5", contentMD5)] + object.headers
        let response = try await send("PUT", key: key, headers: headers, body: body, operation: "PutObject")
        return response.header("etag")
    }

    /// An object's size, ETag, content type and metadata, or nil when it does not exist.
    public func headObject(key: String) async throws -> S3ObjectHead? {
        do {
            let response = try await send("HEAD", key: key, operation: "HeadObject")
            var metadata: [String: String] = [:]
            for header in response.headers where header.name.lowercased().hasPrefix("x-amz-meta-") {
                metadata[String(header.name.lowercased().dropFirst("x-amz-meta-".count))] = header.value
            }
            return S3ObjectHead(
                size: Int(response.header("content-length") ?? "") ?? 0, etag: response.header("etag"),
                contentType: response.header("content-type"), metadata: metadata,
                contentEncoding: response.header("content-encoding"),
                contentLanguage: response.header("content-language"),
                contentDisposition: response.header("content-disposition"),
                cacheControl: response.header("cache-control"),
                serverSideEncryption: response.header("x-amz-server-side-encryption"))
        } catch let error as RemoteError where error.kind == .notFound {
            return nil
        }
    }

    /// An object's bytes, or the bytes `range` (inclusive) of it (verification and tests).
    public func getObject(key: String, range: ClosedRange<Int>? = nil) async throws -> [UInt8] {
        let headers = range.map { [HTTPHeader("Range", "bytes=\($0.lowerBound)-\($0.upperBound)")] } ?? []
        return try await send("GET", key: key, headers: headers, operation: "GetObject").body
    }

    /// An object's MD5 and size, hashed as the body streams in (verify never holds a body,
    /// whatever the object's size).
    public func digestObject(key: String) async throws -> StreamedDigest {
        let digest = StreamedDigest.Accumulator()
        _ = try await send("GET", key: key, operation: "GetObject", bodyHandler: digest.consume)
        return digest.result()
    }

    /// Checks that the bucket exists and the credentials reach it (every consumer's
    /// preflight). A HEAD has no body, so S3's error code is inferred from the status.
    public func checkAccess() async throws {
        do {
            _ = try await send("HEAD", key: nil, operation: "HeadBucket")
        } catch var error as RemoteError where error.code == nil {
            if error.kind == .notFound { error.code = "NoSuchBucket" }
            if error.kind == .authorization { error.code = "AccessDenied" }
            throw error
        }
    }

    /// One page of ListObjectsV2: keys under `prefix` and the token for the next page.
    /// Keys come URL-encoded (`encoding-type=url`), because XML cannot carry every
    /// character a key may hold; a page that does not parse is an error, never "empty".
    public func listObjects(prefix: String, continuationToken: String?, maxKeys: Int = 1000) async throws
        -> (keys: [String], next: String?)
    {
        var query = [("list-type", "2"), ("max-keys", String(maxKeys)), ("encoding-type", "url")]
        if !prefix.isEmpty { query.append(("prefix", prefix)) }
        if let continuationToken { query.append(("continuation-token", continuationToken)) }
        let response = try await send("GET", key: nil, query: query, operation: "ListObjectsV2")
        guard let encodedKeys = XMLText.values(of: "Key", in: response.body),
            let truncated = XMLText.first("IsTruncated", in: response.body)
        else {
            throw RemoteError(service: .s3, kind: .transient, message: "ListObjectsV2 returned XML that does not parse")
        }
        // Form-style URL encoding, as AWS sends it: a space is "+", a plus is "%2B".
        let keys = try encodedKeys.map { encoded in
            guard let key = encoded.replacingOccurrences(of: "+", with: " ").removingPercentEncoding else {
                throw RemoteError(
                    service: .s3, kind: .permanent, message: "ListObjectsV2 returned a key that is not URL-encoded")
            }
            return key
        }
        return (keys, truncated == "true" ? XMLText.first("NextContinuationToken", in: response.body) : nil)
    }

    /// One page of ListObjectsV2 with each object's size and ETag (what `verify` compares
    /// without downloading anything).
    public func listObjectEntries(prefix: String, continuationToken: String?, maxKeys: Int = 1000) async throws
        -> (objects: [S3ListedObject], next: String?)
    {
        var query = [("list-type", "2"), ("max-keys", String(maxKeys)), ("encoding-type", "url")]
        if !prefix.isEmpty { query.append(("prefix", prefix)) }
        if let continuationToken { query.append(("continuation-token", continuationToken)) }
        let response = try await send("GET", key: nil, query: query, operation: "ListObjectsV2")
        guard let encodedKeys = XMLText.values(of: "Key", in: response.body),
            let sizes = XMLText.values(of: "Size", in: response.body),
            let etags = XMLText.values(of: "ETag", in: response.body),
            let truncated = XMLText.first("IsTruncated", in: response.body),
            sizes.count == encodedKeys.count, etags.count == encodedKeys.count
        else {
            throw RemoteError(service: .s3, kind: .transient, message: "ListObjectsV2 returned XML that does not parse")
        }
        var objects: [S3ListedObject] = []
        objects.reserveCapacity(encodedKeys.count)
        for (index, encoded) in encodedKeys.enumerated() {
            guard let key = encoded.replacingOccurrences(of: "+", with: " ").removingPercentEncoding,
                let size = Int(sizes[index])
            else {
                throw RemoteError(
                    service: .s3, kind: .permanent, message: "ListObjectsV2 returned a key or size that does not parse")
            }
            let etag = etags[index].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            objects.append(S3ListedObject(key: key, size: size, etag: etag))
        }
        return (objects, truncated == "true" ? XMLText.first("NextContinuationToken", in: response.body) : nil)
    }

    /// Deletes up to 1,000 objects in one DeleteObjects request (`delete-removed`).
    /// Returns the keys S3 reported as deleted (a key that did not exist counts as deleted,
    /// as S3 says) and, for each key it refused, its error code. A key XML 1.0 cannot carry
    /// (control characters) is deleted alone with DeleteObject.
    public func deleteObjects(keys: [String]) async throws -> (deleted: [String], errors: [String: String]) {
        precondition(keys.count <= 1000, "DeleteObjects takes at most 1,000 keys")
        var deleted: [String] = []
        var batch: [String] = []
        for key in keys {
            if key.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\t" && $0 != "\n" && $0 != "\r" }) {
                _ = try await send("DELETE", key: key, operation: "DeleteObject")
                deleted.append(key)
            } else {
                batch.append(key)
            }
        }
        guard !batch.isEmpty else { return (deleted, [:]) }
        var xml = "<Delete><Quiet>false</Quiet>"
        for key in batch { xml += "<Object><Key>\(Self.escapeXML(key))</Key></Object>" }
        xml += "</Delete>"
        let body = Array(xml.utf8)
        let response = try await send(
            "POST", key: nil, query: [("delete", "")],
            headers: [HTTPHeader("Content-MD5", Base64.encode(Digest.md5(body)))], body: body,
            operation: "DeleteObjects")
        let result = DeleteResultHandler()
        let parser = XMLPushParser(handler: result)
        response.body.withUnsafeBytes { parser.feed($0) }
        do {
            try parser.finish()
        } catch {
            throw RemoteError(service: .s3, kind: .transient, message: "DeleteObjects returned XML that does not parse")
        }
        return (deleted + result.deleted, result.errors)
    }

    // MARK: - Multipart upload

    public func createMultipartUpload(key: String, contentType: String?, metadata: [String: String]) async throws
        -> String
    {
        try await createMultipartUpload(key: key, object: S3ObjectHeaders(contentType: contentType, metadata: metadata))
    }

    /// Starts a multipart upload; the object gets every property `object` holds.
    public func createMultipartUpload(key: String, object: S3ObjectHeaders) async throws -> String {
        let headers = object.headers
        let response = try await send(
            "POST", key: key, query: [("uploads", "")], headers: headers, operation: "CreateMultipartUpload")
        guard let uploadID = XMLText.first("UploadId", in: response.body), !uploadID.isEmpty else {
            throw RemoteError(service: .s3, kind: .transient, message: "CreateMultipartUpload returned no UploadId")
        }
        return uploadID
    }

    /// Uploads one part with its own Content-MD5; returns the part's ETag.
    public func uploadPart(key: String, uploadID: String, partNumber: Int, body: [UInt8], contentMD5: String)
        async throws -> String
    {
        let response = try await send(
            "PUT", key: key, query: [("partNumber", String(partNumber)), ("uploadId", uploadID)],
            headers: [HTTPHeader("Content-MD5", contentMD5)], body: body, operation: "UploadPart")
        guard let etag = response.header("etag") else {
            throw RemoteError(service: .s3, kind: .transient, message: "UploadPart returned no ETag")
        }
        return etag
    }

    /// `ifNoneMatch`: complete only if no object exists under the key (S3 answers 412).
    public func completeMultipartUpload(
        key: String, uploadID: String, partETags: [String], ifNoneMatch: Bool = false
    ) async throws {
        var xml = "<CompleteMultipartUpload>"
        for (index, etag) in partETags.enumerated() {
            xml += "<Part><PartNumber>\(index + 1)</PartNumber><ETag>\(Self.escapeXML(etag))</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        let body = Array(xml.utf8)
        let response = try await send(
            "POST", key: key, query: [("uploadId", uploadID)],
            headers: [HTTPHeader("Content-MD5", Base64.encode(Digest.md5(body)))]
                + (ifNoneMatch ? [HTTPHeader("If-None-Match", "*")] : []), body: body,
            operation: "CompleteMultipartUpload")
        // S3 may answer 200 with an error document when the completion fails late.
        if let code = XMLText.first("Code", in: response.body) {
            throw RemoteError(
                service: .s3, kind: .transient, status: 200, code: code, message: "CompleteMultipartUpload failed")
        }
    }

    public func abortMultipartUpload(key: String, uploadID: String) async throws {
        do {
            _ = try await send("DELETE", key: key, query: [("uploadId", uploadID)], operation: "AbortMultipartUpload")
        } catch let error as RemoteError where error.kind == .notFound {
            return
        }
    }

    /// Multipart uploads started and neither completed nor aborted (tests: nothing leaks).
    /// It stays here although only tests call it because it reads the reply with the
    /// library's own XML reader, which test code should not depend on.
    public func listMultipartUploads(prefix: String = "") async throws -> [String] {
        var query = [("uploads", "")]
        if !prefix.isEmpty { query.append(("prefix", prefix)) }
        let response = try await send("GET", key: nil, query: query, operation: "ListMultipartUploads")
        return XMLText.values(of: "UploadId", in: response.body) ?? []
    }

    // MARK: - Requests

    /// Sends one request on the bucket (`key` nil) or one of its objects; a key S3 would
    /// refuse for its length fails here, before anything is sent.
    func send(
        _ method: String, key: String?, query: [(String, String)] = [], headers: [HTTPHeader] = [],
        body: [UInt8] = [], operation: String, bodyHandler: (@Sendable (UnsafeRawBufferPointer) -> Void)? = nil
    ) async throws -> HTTPResponse {
        if let key, key.utf8.count > Self.maxKeyBytes {
            throw RemoteError(
                service: .s3, kind: .permanent, code: "KeyTooLongError",
                message: "key is \(key.utf8.count) bytes of UTF-8; S3 allows \(Self.maxKeyBytes)")
        }
        var path = pathStyle ? "/" + AWSURIEncoding.encode(bucket, encodeSlash: true) : ""
        if let key {
            path += "/" + AWSURIEncoding.encode(key, encodeSlash: false)
        } else if !pathStyle {
            path = "/"
        }
        return try await executor.send(
            method, path: path, query: query, headers: headers, body: body, operation: operation,
            bodyHandler: bodyHandler)
    }

    private static func escapeXML(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "\"", with: "&quot;")
            .replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\r", with: "&#13;")
    }
}

/// Reads a DeleteObjects result: the `Key` of each `Deleted` element, and the `Key` and
/// `Code` of each `Error` element.
private final class DeleteResultHandler: XMLPushHandler {
    var deleted: [String] = []
    var errors: [String: String] = [:]
    private var section: String?
    private var field: String?
    private var text: [UInt8] = []
    private var key = ""
    private var code = ""

    func startElement(_ name: XMLName, attributes: XMLAttributes) {
        let element = name.string
        if element == "Deleted" || element == "Error" {
            section = element
            key = ""
            code = ""
        } else if section != nil, element == "Key" || element == "Code" {
            field = element
            text = []
        }
    }

    func characters(_ bytes: UnsafeBufferPointer<UInt8>) {
        if field != nil { text.append(contentsOf: bytes) }
    }

    func endElement(_ name: XMLName) {
        let element = name.string
        if let current = field, element == current {
            let value = String(decoding: text, as: UTF8.self)
            if current == "Key" { key = value } else { code = value }
            field = nil
        } else if element == section {
            if element == "Deleted" { deleted.append(key) } else { errors[key] = code.isEmpty ? "Error" : code }
            section = nil
        }
    }
}

/// One object as ListObjectsV2 describes it.
public struct S3ListedObject: Sendable, Equatable {
    public var key: String
    public var size: Int
    /// Without quotes. The hex MD5 of a single-part object (without SSE-KMS); a multipart
    /// object's ends in `-<parts>`.
    public var etag: String
}

/// What HEAD Object tells about an object.
public struct S3ObjectHead: Sendable, Equatable {
    public var size: Int
    public var etag: String?
    public var contentType: String?
    public var metadata: [String: String]
    public var contentEncoding: String? = nil
    public var contentLanguage: String? = nil
    public var contentDisposition: String? = nil
    public var cacheControl: String? = nil
    /// `AES256` or `aws:kms` (an SSE-KMS object's ETag is not its MD5).
    public var serverSideEncryption: String? = nil
}

/// The headers an object is written with (PutObject, CreateMultipartUpload): its content
/// properties and user metadata, plus how it is stored. One type so that a single-part and
/// a multipart copy of the same blob cannot end up with different properties.
public struct S3ObjectHeaders: Sendable, Equatable {
    public var contentType: String?
    public var contentEncoding: String?
    public var contentLanguage: String?
    public var contentDisposition: String?
    public var cacheControl: String?
    /// User metadata, names without `x-amz-meta-` (S3 stores them in lower case).
    public var metadata: [String: String]
    /// Storage and access headers from the settings (`x-amz-storage-class`,
    /// `x-amz-server-side-encryption*`, `x-amz-acl`, `If-None-Match`), sent as given.
    public var extra: [HTTPHeader]

    public init(
        contentType: String? = nil, contentEncoding: String? = nil, contentLanguage: String? = nil,
        contentDisposition: String? = nil, cacheControl: String? = nil, metadata: [String: String] = [:],
        extra: [HTTPHeader] = []
    ) {
        self.contentType = contentType
        self.contentEncoding = contentEncoding
        self.contentLanguage = contentLanguage
        self.contentDisposition = contentDisposition
        self.cacheControl = cacheControl
        self.metadata = metadata
        self.extra = extra
    }

    var headers: [HTTPHeader] {
        var headers: [HTTPHeader] = []
        let content: [(String, String?)] = [
            ("Content-Type", contentType), ("Content-Encoding", contentEncoding),
            ("Content-Language", contentLanguage), ("Content-Disposition", contentDisposition),
            ("Cache-Control", cacheControl),
        ]
        for (name, value) in content { if let value, !value.isEmpty { headers.append(HTTPHeader(name, value)) } }
        headers += metadata.sorted { $0.key < $1.key }.map {
            HTTPHeader("x-amz-meta-\($0.key.lowercased())", $0.value)
        }
        return headers + extra
    }
}
