import BlobferryHTTP
import BlobferryXML

/// A failed request to Azure or S3, classified by what the caller should do about it.
///
/// The consumer's whole error policy hangs on `kind`: retry transient errors with backoff,
/// stop on rejected credentials, count a missing source blob as vanished, and fail the key
/// for anything else. Messages carry the service's error code, never a URL query (SAS
/// signatures live there) or a header value.
public struct RemoteError: Error, CustomStringConvertible, Sendable {
    public enum Service: String, Sendable { case azure = "Azure", s3 = "S3" }

    public enum Kind: Sendable, Equatable {
        /// 401/403: the credentials were rejected.
        case authorization
        /// 404: the blob, container or bucket does not exist.
        case notFound
        /// Connection failures, timeouts, 5xx, throttling, a corrupted transfer: try again.
        case transient
        /// Anything retrying will not fix (400 InvalidArgument, KeyTooLong...).
        case permanent
    }

    public var service: Service
    public var kind: Kind
    public var status: Int?
    /// The service's error code (`AuthenticationFailed`, `SlowDown`, `NoSuchBucket`...).
    public var code: String?
    public var message: String
    /// Seconds from a `Retry-After` header.
    public var retryAfter: Double?
    /// The server's TLS certificate was not trusted (CA bundle, host name): a start-up check
    /// stops at once, since asking again cannot change the answer.
    public var untrustedCertificate = false

    public init(
        service: Service, kind: Kind, status: Int? = nil, code: String? = nil, message: String,
        retryAfter: Double? = nil
    ) {
        self.service = service
        self.kind = kind
        self.status = status
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    public var description: String {
        var text = "\(service.rawValue)"
        if let status { text += " \(status)" }
        if let code { text += " \(code)" }
        return text + ": " + message
    }

    /// The exit status when this error ends a run: rejected credentials 3, a missing
    /// container or bucket 4, a service that stayed unreachable or busy 5, otherwise 1.
    public var exitCode: Int32 {
        switch kind {
        case .authorization: return BlobferryError.Code.credentials.rawValue
        case .notFound: return BlobferryError.Code.notFound.rawValue
        case .transient: return BlobferryError.Code.unreachable.rawValue
        case .permanent: return BlobferryError.Code.failed.rawValue
        }
    }

    /// A service saying "slow down" (429, 503 ServerBusy / SlowDown / ServiceUnavailable,
    /// Azure's 500 OperationTimedOut, S3's throttling codes): retried for as long as it
    /// takes, never charged to a key's attempts, and a signal to send less.
    public var isThrottling: Bool {
        if status == 429 || status == 503 { return true }
        if let code,
            ["SlowDown", "ServerBusy", "OperationTimedOut", "RequestLimitExceeded", "Throttling"].contains(code)
        {
            return true
        }
        return false
    }

    /// Classifies an HTTP response that was not a success.
    static func from(response: HTTPResponse, service: Service, operation: String) -> RemoteError {
        let code =
            response.header("x-ms-error-code")
            ?? (response.body.isEmpty ? nil : XMLText.first("Code", in: response.body))
        let retryAfter = response.header("retry-after").flatMap(Double.init)
        let kind: Kind
        switch response.status {
        case 401, 403: kind = .authorization
        case 404: kind = .notFound
        case 408, 429, 500...599: kind = .transient
        case 400 where code == "BadDigest" || code == "Md5Mismatch" || code == "RequestTimeout": kind = .transient
        default: kind = .permanent
        }
        return RemoteError(
            service: service, kind: kind, status: response.status, code: code,
            message: "\(operation) failed", retryAfter: retryAfter)
    }

    /// Classifies a transport failure (no HTTP response at all): always worth a retry.
    static func from(transport error: HTTPError, service: Service, operation: String) -> RemoteError {
        var remote = RemoteError(service: service, kind: .transient, message: "\(operation): \(error.message)")
        remote.untrustedCertificate = error.curlCode == HTTPError.peerFailedVerification
        return remote
    }
}
