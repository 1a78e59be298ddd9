import BlobferryCrypto
import BlobferryHTTP
import Foundation

/// Finds a Microsoft Entra ID token for Azure Storage the way `DefaultAzureCredential`
/// does, in its order: a client secret (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
/// `AZURE_CLIENT_SECRET`), workload identity (`AZURE_FEDERATED_TOKEN_FILE`, as AKS sets it
/// up), managed identity (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER` on App Service and
/// Container Apps, else the instance metadata endpoint).
///
/// Why: many storage accounts have Shared Key access switched off, and on AKS or a VM the
/// platform hands out tokens instead of keys. `AZURE_AUTHORITY_HOST` picks a sovereign
/// cloud; `AZURE_CLIENT_ID` picks a user-assigned managed identity.
public enum AzureTokenChain {
    /// What the client flows ask for.
    static let scope = "https://storage.azure.com/.default"
    /// What the managed identity endpoints take.
    static let resource = "https://storage.azure.com/"

    /// The token provider for `environment` (used when no key or SAS is set).
    public static func provider(environment: [String: String], http: HTTPEngine) -> RefreshingCredentials<Secret> {
        let environment = environment.filter { !$0.value.isEmpty }
        var authority = environment["AZURE_AUTHORITY_HOST"] ?? "https://login.microsoftonline.com"
        while authority.hasSuffix("/") { authority.removeLast() }
        let clientID = environment["AZURE_CLIENT_ID"]
        if let tenant = environment["AZURE_TENANT_ID"], let clientID {
            let tokenURL = "\(authority)/\(tenant)/oauth2/v2.0/token"
            if let secret = environment["AZURE_CLIENT_SECRET"] {
                return RefreshingCredentials(sourceName: "Entra ID client secret (client \(clientID) at \(authority))")
                {
                    try await clientCredentials(
                        url: tokenURL, http: http,
                        form: [
                            ("client_id", clientID), ("client_secret", secret), ("grant_type", "client_credentials"),
                            ("scope", scope),
                        ])
                }
            }
            if let file = environment["AZURE_FEDERATED_TOKEN_FILE"] {
                return RefreshingCredentials(sourceName: "workload identity (client \(clientID) at \(authority))") {
                    // Read on every fetch: the kubelet rotates the file.
                    guard let assertion = try? String(contentsOfFile: file, encoding: .utf8) else {
                        throw CredentialSourceError("cannot read AZURE_FEDERATED_TOKEN_FILE \(file)")
                    }
                    return try await clientCredentials(
                        url: tokenURL, http: http,
                        form: [
                            ("client_assertion", assertion.trimmingCharacters(in: .whitespacesAndNewlines)),
                            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                            ("client_id", clientID), ("grant_type", "client_credentials"), ("scope", scope),
                        ])
                }
            }
        }
        if let endpoint = environment["IDENTITY_ENDPOINT"], let header = environment["IDENTITY_HEADER"] {
            var query = [("api-version", "2019-08-01"), ("resource", resource)]
            if let clientID { query.append(("client_id", clientID)) }
            let url = endpoint + "?" + SigV4Signer.canonicalQuery(query)
            return RefreshingCredentials(sourceName: "managed identity (\(endpoint))") {
                try await managedIdentity(
                    HTTPRequest(
                        method: "GET", url: url, headers: [HTTPHeader("X-IDENTITY-HEADER", header)], timeout: 10),
                    http: http, source: "managed identity endpoint \(endpoint)")
            }
        }
        var imds = environment["AZURE_POD_IDENTITY_AUTHORITY_HOST"] ?? "http://169.254.169.254"
        while imds.hasSuffix("/") { imds.removeLast() }
        var query = [("api-version", "2018-02-01"), ("resource", resource)]
        if let clientID { query.append(("client_id", clientID)) }
        let url = imds + "/metadata/identity/oauth2/token?" + SigV4Signer.canonicalQuery(query)
        let host = imds
        return RefreshingCredentials(sourceName: "managed identity (instance metadata \(host))") {
            try await managedIdentity(
                HTTPRequest(method: "GET", url: url, headers: [HTTPHeader("Metadata", "true")], timeout: 3),
                http: http,
                source:
                    "managed identity at \(host) (no AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN, connection string or AZURE_CLIENT_SECRET either)"
            )
        }
    }

    private static func clientCredentials(url: String, http: HTTPEngine, form: [(String, String)]) async throws -> (
        Secret, Date?
    ) {
        let body = Array(SigV4Signer.canonicalQuery(form).utf8)
        let request = HTTPRequest(
            method: "POST", url: url,
            headers: [
                HTTPHeader("Content-Type", "application/x-www-form-urlencoded"),
                HTTPHeader("Content-Length", String(body.count)),
            ], body: body, timeout: 10)
        let source = "Entra ID token endpoint \(url)"
        return try decode(try await AWSCredentialChain.fetch(request, http: http, source: source), source: source)
    }

    private static func managedIdentity(_ request: HTTPRequest, http: HTTPEngine, source: String) async throws -> (
        Secret, Date?
    ) {
        try decode(try await AWSCredentialChain.fetch(request, http: http, source: source), source: source)
    }

    /// `access_token` with `expires_in` (seconds, number or text) or `expires_on` (epoch seconds).
    static func decode(_ body: [UInt8], source: String) throws -> (Secret, Date?) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
            let token = object["access_token"] as? String, !token.isEmpty
        else {
            throw CredentialSourceError("\(source) returned no access_token")
        }
        func number(_ key: String) -> Double? {
            if let value = object[key] as? Double { return value }
            if let value = object[key] as? Int { return Double(value) }
            return (object[key] as? String).flatMap(Double.init)
        }
        let expiration: Date
        if let on = number("expires_on") {
            expiration = Date(timeIntervalSince1970: on)
        } else if let seconds = number("expires_in") {
            expiration = Date().addingTimeInterval(seconds)
        } else {
            expiration = Date().addingTimeInterval(3600)
        }
        return (Secret(token), expiration)
    }
}

/// Authorization: Bearer with a token asked of a provider on every request.
///
/// Why its own signer: Entra ID tokens expire within hours; the provider refreshes them in
/// the background and the signer always sends the current one. Azure takes bearer tokens
/// from x-ms-version 2017-11-09 on; the client sends a later one.
public struct AzureBearerSigner: RequestSigner {
    public let tokens: RefreshingCredentials<Secret>

    public init(tokens: RefreshingCredentials<Secret>) { self.tokens = tokens }

    public func sign(_ request: inout SignableRequest) async throws {
        let token: Secret
        do {
            token = try await tokens.value()
        } catch let error as CredentialSourceError {
            throw RemoteError(
                service: .azure, kind: error.transient ? .transient : .authorization,
                message: "Azure token (\(tokens.sourceName)): \(error.message)")
        }
        request.headers.append(HTTPHeader("Authorization", "Bearer " + token.exposedValue))
    }
}
