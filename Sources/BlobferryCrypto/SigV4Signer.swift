import Foundation

/// AWS Signature Version 4 for the Authorization header, as S3 and S3-compatible stores
/// (SeaweedFS, MinIO) verify it, and as botocore's S3SigV4Auth computes it.
///
/// The consumer signs every PUT itself instead of linking an AWS SDK, so this type must agree
/// with S3 byte for byte; the tests compare it with the documented S3 examples and with
/// botocore on awkward keys. S3 rules followed: the path is signed exactly as sent (no
/// normalisation, no second encoding); the query is RFC 3986-encoded and sorted; header
/// values are trimmed with inner whitespace runs collapsed; every header given is signed
/// except hop-by-hop ones botocore also leaves out (connection, expect, keep-alive,
/// proxy-authenticate, proxy-authorization, te, trailer, transfer-encoding, upgrade,
/// user-agent, x-amzn-trace-id).
public struct SigV4Signer: Sendable {
    /// What the request body contributes to the signature (x-amz-content-sha256).
    public enum Payload: Sendable {
        /// "UNSIGNED-PAYLOAD": the body is not hashed (fine over TLS with Content-MD5).
        case unsigned
        /// The lowercase hex SHA-256 of the body, computed by the caller.
        case sha256Hex(String)
        /// The body itself; it is hashed here.
        case bytes([UInt8])
    }

    /// The literal S3 accepts in x-amz-content-sha256 for an unsigned body.
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"
    /// SHA-256 of the empty body, for GET/HEAD/DELETE.
    public static let emptyPayloadSHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    public let credentials: AWSCredentials
    public let region: String
    public let service: String

    public init(credentials: AWSCredentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// Returns the headers to add to the request: x-amz-date, x-amz-content-sha256, x-amz-security-token (if any), Authorization.
    ///
    /// - Parameters:
    ///   - host: the Host header value (with ":port" when the port is not the scheme's default).
    ///   - encodedPath: the path exactly as sent on the wire (already encoded, e.g. with
    ///     `AWSURIEncoding.encode(key, encodeSlash: false)`); "" means "/".
    ///   - query: raw (not encoded) name/value pairs; send them as `canonicalQuery(query)`.
    ///   - headers: the other headers that will be sent; all are signed except the hop-by-hop
    ///     ones listed on the type. Any Host, Authorization, x-amz-date, x-amz-content-sha256
    ///     or x-amz-security-token given here is ignored: those come from the arguments, the
    ///     credentials and the returned headers.
    public func sign(
        method: String, host: String, encodedPath: String, query: [(String, String)], headers: [(String, String)],
        payload: Payload, date: Date
    ) -> [(String, String)] {
        signing(
            method: method, host: host, encodedPath: encodedPath, query: query, headers: headers, payload: payload,
            date: date
        ).headers
    }

    /// The query string to put on the wire: RFC 3986-encoded (even "/"), sorted by name then
    /// value, "name=value" joined by "&" (a bare name gets "="). It is byte for byte the
    /// canonical query string, so what is sent is what was signed.
    public static func canonicalQuery(_ query: [(String, String)]) -> String {
        query.map { (AWSURIEncoding.encode($0.0, encodeSlash: true), AWSURIEncoding.encode($0.1, encodeSlash: true)) }
            .sorted { lhs, rhs in
                lhs.0 == rhs.0
                    ? lhs.1.utf8.lexicographicallyPrecedes(rhs.1.utf8)
                    : lhs.0.utf8.lexicographicallyPrecedes(rhs.0.utf8)
            }
            .map { $0.0 + "=" + $0.1 }
            .joined(separator: "&")
    }

    /// Every intermediate of one signature, kept so tests can compare each step with the docs.
    struct Signing {
        var canonicalRequest: String
        var stringToSign: String
        var signedHeaders: String
        var signature: String
        var headers: [(String, String)]
    }

    /// Names never signed, as in botocore's SIGNED_HEADERS_BLACKLIST.
    private static let unsignedHeaderNames: Set<String> = [
        "connection", "expect", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
        "transfer-encoding", "upgrade", "user-agent", "x-amzn-trace-id",
    ]
    /// Names this signer sets itself.
    private static let managedHeaderNames: Set<String> = [
        "host", "authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token",
    ]

    func signing(
        method: String, host: String, encodedPath: String, query: [(String, String)], headers: [(String, String)],
        payload: Payload, date: Date
    ) -> Signing {
        let timestamp = UTCTimestamp(date)
        let amzDate = timestamp.amzDate
        let payloadHash: String
        switch payload {
        case .unsigned: payloadHash = Self.unsignedPayload
        case .sha256Hex(let hex): payloadHash = hex
        case .bytes(let body): payloadHash = Digest.sha256(body).hexString
        }

        var added: [(String, String)] = [("x-amz-date", amzDate), ("x-amz-content-sha256", payloadHash)]
        if let token = credentials.sessionToken {
            added.append(("x-amz-security-token", token))
        }

        // Lowercased name -> values in the order given (repeated headers are joined by ",").
        var byName: [String: [String]] = ["host": [host]]
        for (name, value) in headers {
            let lower = name.lowercased()
            if Self.unsignedHeaderNames.contains(lower) || Self.managedHeaderNames.contains(lower) { continue }
            byName[lower, default: []].append(value)
        }
        for (name, value) in added {
            byName[name] = [value]
        }
        let names = byName.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        let canonicalHeaders = names.map { name in
            name + ":" + (byName[name] ?? []).map(Self.trimAll).joined(separator: ",") + "\n"
        }.joined()
        let signedHeaders = names.joined(separator: ";")

        let canonicalRequest = [
            method.uppercased(), encodedPath.isEmpty ? "/" : encodedPath, Self.canonicalQuery(query), canonicalHeaders,
            signedHeaders, payloadHash,
        ].joined(separator: "\n")

        let scope = [timestamp.amzDay, region, service, "aws4_request"].joined(separator: "/")
        let stringToSign = [
            "AWS4-HMAC-SHA256", amzDate, scope, Digest.sha256(Array(canonicalRequest.utf8)).hexString,
        ].joined(separator: "\n")

        var key = Array(("AWS4" + credentials.secretAccessKey).utf8)
        for part in [timestamp.amzDay, region, service, "aws4_request"] {
            key = Digest.hmacSHA256(key: key, data: Array(part.utf8))
        }
        let signature = Digest.hmacSHA256(key: key, data: Array(stringToSign.utf8)).hexString

        let authorization =
            "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), "
            + "Signature=\(signature)"
        return Signing(
            canonicalRequest: canonicalRequest, stringToSign: stringToSign, signedHeaders: signedHeaders,
            signature: signature, headers: added + [("Authorization", authorization)])
    }

    /// SigV4's Trimall, as botocore applies it (Python's `" ".join(value.split())`): leading and
    /// trailing whitespace removed, each inner run of whitespace replaced by one space.
    static func trimAll(_ value: String) -> String {
        // Almost every header value is printable ASCII with single spaces: nothing to trim,
        // and no Unicode property look-up per scalar (1.5% of a consumer's CPU).
        if isTrimmedPrintableASCII(value.utf8) { return value }
        var words: [String] = []
        var current = String.UnicodeScalarView()
        for scalar in value.unicodeScalars {
            if isPythonWhitespace(scalar) {
                if !current.isEmpty {
                    words.append(String(current))
                    current = String.UnicodeScalarView()
                }
            } else {
                current.append(scalar)
            }
        }
        if !current.isEmpty { words.append(String(current)) }
        return words.joined(separator: " ")
    }

    private static func isTrimmedPrintableASCII(_ bytes: String.UTF8View) -> Bool {
        var afterSpace = true  // a leading space needs trimming
        for byte in bytes {
            if byte == 0x20 {
                if afterSpace { return false }
                afterSpace = true
            } else if byte > 0x20 && byte < 0x7F {
                afterSpace = false
            } else {
                return false
            }
        }
        return bytes.isEmpty || !afterSpace
    }

    private static func isPythonWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        // str.split() also splits on the ASCII file/group/record/unit separators.
        (0x1c...0x1f).contains(scalar.value) || scalar.properties.isWhitespace
    }
}
