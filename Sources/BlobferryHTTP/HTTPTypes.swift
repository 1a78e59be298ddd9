import Foundation

/// One HTTP header field. Kept as an ordered list rather than a dictionary because
/// signatures (SigV4, Azure Shared Key) and the wire both care about exact names and
/// repeated fields.
public struct HTTPHeader: Sendable, Equatable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// A request as it goes on the wire: the URL is used exactly as given (already
/// percent-encoded, dot segments kept) because object keys are signed byte for byte.
public struct HTTPRequest: Sendable {
    /// GET, PUT, HEAD, POST, DELETE (any token is accepted).
    public var method: String
    /// Already percent-encoded; sent exactly as given (no dot-segment squashing).
    public var url: String
    /// Sent in this order, in addition to Host and Content-Length (and curl's `Accept: */*`
    /// unless an Accept header is given). A Content-Length here must match `body`.
    public var headers: [HTTPHeader]
    /// Sent with an exact Content-Length (`Content-Length: 0` for an empty PUT/POST),
    /// never with `Expect: 100-continue`, and without a Content-Type of curl's own.
    public var body: [UInt8]
    /// Limit for the whole transfer (waiting for a free connection, connect, upload and
    /// download), in seconds, counted from when the engine picks the request up. Zero or
    /// less means no limit.
    public var timeout: TimeInterval
    /// When set, a 2xx response's body is handed to this closure chunk by chunk, as curl
    /// receives it, instead of being collected: `HTTPResponse.body` then stays empty.
    /// Why: a List Blobs page is megabytes of XML that a streaming parser can consume as
    /// it arrives, so no copy of the whole document ever exists. Any other status is
    /// buffered as usual, so error documents (`<Code>`) stay readable.
    ///
    /// Runs on the engine thread, which every transfer shares: it must be quick and must
    /// not block. The buffer is only valid during the call. A transfer that fails or is
    /// retried by the caller may have delivered part of a body first.
    public var bodyHandler: (@Sendable (UnsafeRawBufferPointer) -> Void)?

    public init(
        method: String, url: String, headers: [HTTPHeader] = [], body: [UInt8] = [],
        timeout: TimeInterval = 60, bodyHandler: (@Sendable (UnsafeRawBufferPointer) -> Void)? = nil
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.bodyHandler = bodyHandler
    }
}

/// A complete response, body in memory: blobferry copies objects of about a megabyte,
/// so buffering whole bodies is cheaper than streaming them through callbacks.
public struct HTTPResponse: Sendable {
    public var status: Int
    /// Headers of the final response (interim 1xx responses dropped), names as received.
    public var headers: [HTTPHeader]
    /// Empty for HEAD, and for a 2xx response whose request had a `bodyHandler`.
    public var body: [UInt8]

    public init(status: Int, headers: [HTTPHeader] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The value of the first header named `name`, compared case-insensitively.
    public func header(_ name: String) -> String? {
        for header in headers where HTTPResponse.sameName(header.name, name) {
            return header.value
        }
        return nil
    }

    /// ASCII case-insensitive comparison (header names are ASCII tokens).
    static func sameName(_ a: String, _ b: String) -> Bool {
        var left = a.utf8.makeIterator()
        var right = b.utf8.makeIterator()
        while true {
            switch (left.next(), right.next()) {
            case (nil, nil):
                return true
            case (let x?, let y?):
                let foldedX = (x >= 0x41 && x <= 0x5A) ? x | 0x20 : x
                let foldedY = (y >= 0x41 && y <= 0x5A) ? y | 0x20 : y
                if foldedX != foldedY { return false }
            default:
                return false
            }
        }
    }
}

/// Why a transfer produced no HTTP response. An HTTP error status (404, 503...) is not
/// an `HTTPError`: it is a normal `HTTPResponse`, and the caller decides what it means.
public struct HTTPError: Error, CustomStringConvertible, Sendable {
    /// Coarse classes callers decide retries on.
    public enum Code: Sendable {
        /// Nothing accepted the connection, or the host name did not resolve.
        case couldNotConnect
        /// The transfer (or its connect phase) ran past its time limit.
        case timeout
        /// Any other network or protocol failure after connecting.
        case transport
        /// The engine was shut down before the transfer finished.
        case engineStopped
        /// The request cannot be sent as given (bad method, header, URL or scheme).
        case invalidRequest
    }

    public var code: Code
    /// curl's error text plus the URL's host only: never the query string, which may
    /// hold a SAS signature.
    public var message: String
    /// The CURLcode when curl reported the failure.
    public var curlCode: Int32?
    /// CURLE_PEER_FAILED_VERIFICATION: the server's certificate was not trusted.
    public static let peerFailedVerification: Int32 = 60

    public init(code: Code, message: String, curlCode: Int32? = nil) {
        self.code = code
        self.message = message
        self.curlCode = curlCode
    }

    public var description: String {
        if let curlCode { return "HTTP \(code): \(message) (curl \(curlCode))" }
        return "HTTP \(code): \(message)"
    }
}

/// Connection limits of one engine. Defaults suit one consumer process talking to one
/// Azure account and one S3 endpoint with a few hundred copies in flight.
public struct HTTPEngineConfiguration: Sendable {
    /// Most connections open to one host at a time (CURLMOPT_MAX_HOST_CONNECTIONS);
    /// further transfers to that host wait inside curl for a free connection.
    public var maxConnectionsPerHost: Int = 128
    /// Most connections open in all (CURLMOPT_MAX_TOTAL_CONNECTIONS), also the size of the
    /// idle connection cache (CURLMOPT_MAXCONNECTS).
    public var maxTotalConnections: Int = 512
    /// Limit for establishing one connection (TCP and TLS), in seconds.
    public var connectTimeout: TimeInterval = 10
    /// The file of CA certificates (PEM) that servers' certificates are verified against
    /// (CURLOPT_CAINFO); it replaces the system's trust store. nil: the `SSL_CERT_FILE`
    /// environment variable when set (the variable OpenSSL, Go programs such as rclone and
    /// the curl tool honour), else the bundle libcurl was built with. Certificate and host
    /// name verification are always on. The engine refuses to start when a file given here
    /// or in `SSL_CERT_FILE` cannot be read.
    public var caBundlePath: String? = nil
    /// The proxies to use; nil: the process environment's (`HTTPProxies.from`).
    public var proxies: HTTPProxies? = nil

    public init() {}
}

/// Counters of one engine since it started, for logs, status and tests.
public struct HTTPEngineStatistics: Sendable {
    /// Transfers that produced a response (any status).
    public var completed: Int = 0
    /// Transfers that ended with an error, a cancellation or the engine stopping.
    public var failed: Int = 0
    /// New connections curl opened (sum of CURLINFO_NUM_CONNECTS): far below
    /// `completed` when keep-alive works.
    public var connectionsOpened: Int = 0
    /// CPU time the engine thread has used, in seconds.
    public var engineThreadCPUSeconds: Double = 0

    public init() {}
}
