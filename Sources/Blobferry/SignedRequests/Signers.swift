import BlobferryCrypto
import BlobferryHTTP
import Foundation

/// Azure Shared Key: an Authorization header over the request's x-ms-* headers, path and
/// query (the client has already set x-ms-date and x-ms-version).
extension AzureSharedKeySigner: RequestSigner {
    public func sign(_ request: inout SignableRequest) async throws {
        let authorization = authorization(
            method: request.method, encodedPath: request.encodedPath, query: request.query,
            headers: request.headers.map { ($0.name, $0.value) })
        request.headers.append(HTTPHeader("Authorization", authorization))
    }
}

/// A SAS token someone else minted, sent as query parameters on every request.
///
/// Why a signer of its own: the token authorizes by where it travels (the query) rather
/// than by a header, and it is a `Secret` so it never reaches a log line or an error.
public struct AzureSASSigner: RequestSigner {
    private let token: Secret

    /// `token` is the SAS query string, with or without its leading "?".
    public init(token: Secret) {
        let value = token.exposedValue
        self.token = Secret(value.hasPrefix("?") ? String(value.dropFirst()) : value)
    }

    public func sign(_ request: inout SignableRequest) async throws {
        request.credentialQuery = token.exposedValue
    }
}

extension AzureCredential {
    /// The signer for this credential; a key that is not base64 is a configuration error.
    func signer() throws -> any RequestSigner {
        switch self {
        case .sharedKey(let account, let key):
            do {
                return try AzureSharedKeySigner(account: account, base64Key: key.exposedValue)
            } catch {
                throw BlobferryError(.configuration, "the Azure account key is not valid base64")
            }
        case .sas(let token):
            return AzureSASSigner(token: token)
        }
    }
}

/// AWS SigV4 with an unsigned payload (S3 checks bodies against Content-MD5 instead, so
/// the body is never hashed twice) and the current time.
extension SigV4Signer: RequestSigner {
    public func sign(_ request: inout SignableRequest) async throws {
        let signed = sign(
            method: request.method, host: request.host, encodedPath: request.encodedPath, query: request.query,
            headers: request.headers.map { ($0.name, $0.value) }, payload: .unsigned, date: Date())
        request.headers += signed.map { HTTPHeader($0.0, $0.1) }
    }
}
