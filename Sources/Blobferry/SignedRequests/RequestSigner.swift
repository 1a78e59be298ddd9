import BlobferryCrypto
import BlobferryHTTP

/// Authorizes one request to Azure or S3.
///
/// Why a protocol: how a request is authorized (Shared Key, SAS, SigV4 today; an Entra ID
/// bearer token and refreshed AWS credentials next) changes independently of what the
/// clients ask the services, so the clients take any signer and never see a credential.
/// `sign` is async and throwing because a signer may first have to fetch or refresh what it
/// signs with. A signer that fails should throw a `RemoteError` saying whether retrying can
/// help (`.transient` for an unreachable token endpoint, `.authorization` for refused
/// credentials); whatever it throws reaches the caller unchanged, so it must not carry a secret.
public protocol RequestSigner: Sendable {
    /// Adds to `request` what authorizes it: headers, or query parameters the service reads
    /// instead. Called once per request, just before it is sent, with every other header set.
    func sign(_ request: inout SignableRequest) async throws
}

/// A request as a signer sees it: everything settled except what authorizes it.
///
/// Why one shape for every scheme: each of them signs the same parts (method, Host, the
/// path as sent, the raw query, the headers) and adds either headers or query parameters,
/// so the executor can send whatever any signer produced. Only the executor makes one (the
/// memberwise initializer is internal). Printing or dumping one shows the method, host and
/// path only: after signing it holds credentials.
public struct SignableRequest: Sendable, CustomStringConvertible, CustomReflectable {
    public let method: String
    /// The Host header value: the host, with ":port" when it is not the scheme's default.
    public let host: String
    /// The URL path exactly as sent (already percent-encoded).
    public let encodedPath: String
    /// Raw (not yet encoded) name/value pairs; sent as `SigV4Signer.canonicalQuery(query)`.
    public let query: [(String, String)]
    /// The headers that will be sent, in order; signers append theirs.
    public var headers: [HTTPHeader]
    /// Already-encoded parameters a signer adds after the query (a SAS token). Never shown
    /// in errors or logs.
    public var credentialQuery: String = ""

    /// The query string to put on the wire (without "?"): the encoded query, then any
    /// credential parameters.
    public var encodedQuery: String {
        let encoded = SigV4Signer.canonicalQuery(query)
        if credentialQuery.isEmpty { return encoded }
        return encoded.isEmpty ? credentialQuery : encoded + "&" + credentialQuery
    }

    public var description: String { "\(method) \(host)\(encodedPath)" }

    public var customMirror: Mirror {
        Mirror(self, children: ["method": method, "host": host, "encodedPath": encodedPath], displayStyle: .struct)
    }
}
