/// Azure Storage Shared Key authorization (the "SharedKey" scheme, service version
/// 2009-09-19 and later), computed the way azure-storage-blob's SharedKeyCredentialPolicy does.
///
/// The producer lists and the consumers read blobs with the account key when no SAS is
/// configured. The string-to-sign is: the verb; the values of Content-Encoding,
/// Content-Language, Content-Length (empty when "0"), Content-MD5, Content-Type, Date,
/// If-Modified-Since, If-Match, If-None-Match, If-Unmodified-Since and Range, one per line;
/// the x-ms-* headers as "name:value" lines in the service's collation order; then
/// "/account" + the path as sent, and each query parameter as "\nname:value" (names
/// lowercased, sorted). Send byte ranges as x-ms-range, as the SDK does.
public struct AzureSharedKeySigner: Sendable, CustomStringConvertible, CustomReflectable {
    public let account: String
    private let key: [UInt8]

    /// Throws `CryptoError` if `base64Key` is not canonical base64; the message never contains the key.
    public init(account: String, base64Key: String) throws {
        guard let key = Base64.decode(base64Key), !key.isEmpty else {
            throw CryptoError("the Azure storage account key for \(account) is not valid base64")
        }
        self.account = account
        self.key = key
    }

    public var description: String { "AzureSharedKeySigner(account: \(account), key: <redacted>)" }

    public var customMirror: Mirror {
        Mirror(self, children: ["account": account, "key": "<redacted>"], displayStyle: .struct)
    }

    /// Value for the Authorization header: "SharedKey account:signature". `headers` must already include x-ms-date and x-ms-version.
    /// `encodedPath` is the URL path as sent (path-style emulator URLs start with /account/...: the canonicalized resource then has the account twice, as the SDK does).
    ///
    /// `query` holds raw (decoded) name/value pairs. `headers` are the headers that will be
    /// sent, one value per name (a repeated name keeps its last value).
    public func authorization(
        method: String, encodedPath: String, query: [(String, String)], headers: [(String, String)]
    ) -> String {
        let text = stringToSign(method: method, encodedPath: encodedPath, query: query, headers: headers)
        return "SharedKey \(account):\(signature(of: text))"
    }

    /// Base64 HMAC-SHA256 of `text` under the account key.
    func signature(of text: String) -> String {
        Base64.encode(Digest.hmacSHA256(key: key, data: Array(text.utf8)))
    }

    private static let standardHeaderNames = [
        "content-encoding", "content-language", "content-length", "content-md5", "content-type", "date",
        "if-modified-since", "if-match", "if-none-match", "if-unmodified-since", "range",
    ]

    func stringToSign(method: String, encodedPath: String, query: [(String, String)], headers: [(String, String)])
        -> String
    {
        var byName: [String: String] = [:]
        for (name, value) in headers {
            byName[name.lowercased()] = value
        }
        if byName["content-length"] == "0" {
            byName["content-length"] = nil
        }

        var text = method.uppercased() + "\n"
        for name in Self.standardHeaderNames {
            text += (byName[name] ?? "") + "\n"
        }

        let msNames = byName.keys.filter { $0.hasPrefix("x-ms-") }.sorted(by: AzureHeaderCollation.precedes)
        for name in msNames {
            text += name + ":" + (byName[name] ?? "") + "\n"
        }

        text += "/" + account + (encodedPath.isEmpty ? "/" : encodedPath)

        // Lowercased name -> values; a repeated parameter lists its values sorted, comma-separated.
        var parameters: [String: [String]] = [:]
        for (name, value) in query {
            parameters[name.lowercased(), default: []].append(value)
        }
        for name in parameters.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            let values = (parameters[name] ?? []).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            text += "\n" + name + ":" + values.joined(separator: ",")
        }
        return text
    }
}
