import Foundation

/// One blob as List Blobs describes it.
public struct BlobItem: Sendable, Equatable {
    public var name: String
    public var size: Int
    /// Base64 MD5 of the whole blob, when Azure has one.
    public var contentMD5: String?
    public var contentType: String?
    public var metadata: [String: String]
    /// The blob's Last-Modified (whole seconds): a delta pass re-copies a done blob whose
    /// Last-Modified is at or after the previous pass's start. Kept in names-only listings too.
    public var lastModified: Date?
    /// `Hot`, `Cool`, `Cold`, `Archive` (Get Blob Properties and List Blobs say it; Get
    /// Blob does not).
    public var accessTier: String? = nil

    public init(
        name: String, size: Int, contentMD5: String? = nil, contentType: String? = nil,
        metadata: [String: String] = [:], lastModified: Date? = nil
    ) {
        self.lastModified = lastModified
        self.name = name
        self.size = size
        self.contentMD5 = contentMD5
        self.contentType = contentType
        self.metadata = metadata
    }
}

/// One page of a listing and the marker to ask for the next (nil on the last page).
public struct BlobListPage: Sendable {
    public var blobs: [BlobItem]
    public var nextMarker: String?
    /// The response's `Date` header: Azure's clock when it listed the page, which a delta
    /// pass compares Last-Modified with (never the local clock, which may be skewed).
    public var date: Date?
}

/// A blob's bytes (or a range of them) with the properties a copy carries over.
public struct BlobDownload: Sendable {
    public var body: [UInt8]
    public var contentType: String?
    /// Sent to S3 as stored: a gzip blob stays gzip (the HTTP engine never decodes bodies).
    public var contentEncoding: String?
    public var contentLanguage: String?
    public var contentDisposition: String?
    public var cacheControl: String?
    /// The blob's Last-Modified (whole seconds, as Azure's HTTP date has them).
    public var lastModified: Date?
    /// `BlockBlob`, `PageBlob` or `AppendBlob`.
    public var blobType: String?
    /// Base64 MD5 of the whole blob (`Content-MD5`, or `x-ms-blob-content-md5` on ranges).
    public var contentMD5: String?
    public var metadata: [String: String]
    /// The blob's full size (from Content-Range on ranged reads).
    public var totalSize: Int
    public var etag: String?
    /// How many blob index tags the blob has (`x-ms-tag-count`; 0 when absent): the copy
    /// asks for them (Get Blob Tags) only when there are some.
    public var tagCount: Int = 0
}

/// How requests to Azure are authorized.
public enum AzureCredential: Sendable {
    case sharedKey(account: String, key: Secret)
    /// A SAS token: the query string, without the leading `?`.
    case sas(Secret)
}
