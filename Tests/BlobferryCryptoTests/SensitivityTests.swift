import Foundation
import Testing

@testable import BlobferryCrypto

/// Why "change one character of the SigV4 or Shared Key code and a test fails" holds by
/// construction:
/// 1. every vector test compares the whole signature (Authorization value, SAS token) with
///    `==`, so any output that differs in one character fails (checked by `exactComparison`);
/// 2. the signature is an HMAC over the canonical form, and every single-character change to
///    any input that reaches the canonical form changes the signature (checked below for each
///    character of each input), so a code change that alters one byte of the canonical form
///    (a separator, an encoding rule, a header order, a newline) changes the signature too.
/// The vector files exercise each branch of the canonicalisation (encoding, sorting, trimming,
/// dropped headers, empty values), so such a change shows up in at least one vector.
struct SensitivityTests {
    /// One variant of `text` per character position, that character replaced by another
    /// (never one that only differs in case or whitespace, which some fields ignore by design).
    /// Copies of `base` with one character of one name or value in `pairs` changed.
    static func pairVariants<Request>(of base: Request, _ pairs: WritableKeyPath<Request, [(String, String)]>)
        -> [Request]
    {
        var changed: [Request] = []
        for index in base[keyPath: pairs].indices {
            for variant in variants(base[keyPath: pairs][index].0) {
                var request = base
                request[keyPath: pairs][index].0 = variant
                changed.append(request)
            }
            for variant in variants(base[keyPath: pairs][index].1) {
                var request = base
                request[keyPath: pairs][index].1 = variant
                changed.append(request)
            }
        }
        return changed
    }

    static func variants(_ text: String) -> [String] {
        let characters = Array(text)
        return characters.indices.map { index in
            var copy = characters
            copy[index] = characters[index].lowercased() == "x" ? "y" : "x"
            return String(copy)
        }
    }

    @Test func exactComparison() {
        let signature = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        for variant in Self.variants(signature) {
            #expect(variant != signature)
        }
    }

    // MARK: SigV4

    struct SigV4Request {
        var accessKey = "AKIAIOSFODNN7EXAMPLE"
        var secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
        var token = "session-token"
        var region = "us-east-1"
        var service = "s3"
        var method = "PUT"
        var host = "127.0.0.1:8333"
        var path = "/bucket/dir%20one/a%2Bb.txt"
        var query = [("partNumber", "1"), ("uploadId", "abc/def")]
        var headers = [("Content-MD5", "XrY7u+Ae7tCTyyK7j1rNww=="), ("x-amz-meta-k", "v w")]
        var payloadHash = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        var date = Date(timeIntervalSince1970: 1_773_500_966)

        func authorization() -> String {
            let credentials = AWSCredentials(accessKeyID: accessKey, secretAccessKey: secret, sessionToken: token)
            let headers = SigV4Signer(credentials: credentials, region: region, service: service).sign(
                method: method, host: host, encodedPath: path, query: query, headers: headers,
                payload: .sha256Hex(payloadHash), date: date)
            return headers.first { $0.0 == "Authorization" }?.1 ?? ""
        }
    }

    @Test func everySigV4InputCharacterChangesTheSignature() {
        let base = SigV4Request()
        let baseline = base.authorization()
        var changed: [SigV4Request] = []
        let stringFields: [WritableKeyPath<SigV4Request, String>] = [
            \.accessKey, \.secret, \.token, \.region, \.service, \.method, \.host, \.path, \.payloadHash,
        ]
        for field in stringFields {
            for variant in Self.variants(base[keyPath: field]) {
                var request = base
                request[keyPath: field] = variant
                changed.append(request)
            }
        }
        changed += Self.pairVariants(of: base, \.query) + Self.pairVariants(of: base, \.headers)
        var oneSecondLater = base
        oneSecondLater.date = base.date.addingTimeInterval(1)
        changed.append(oneSecondLater)

        #expect(changed.count > 200)
        for request in changed {
            let authorization = request.authorization()
            #expect(authorization != baseline, "\(request)")
            #expect(authorization.hasPrefix("AWS4-HMAC-SHA256 Credential="))
        }
    }

    // MARK: Azure Shared Key

    struct SharedKeyRequest {
        var account = "blobferrytest"
        var key = "BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4/QEFCQ0RFRg=="
        var method = "PUT"
        var path = "/dest/dir%20one/a+b.txt"
        var query = [("comp", "block"), ("blockid", "QUFBQQ==")]
        var headers = [
            ("Content-Length", "11"), ("Content-MD5", "XrY7u+Ae7tCTyyK7j1rNww=="), ("Content-Type", "text/plain"),
            ("x-ms-date", "Sat, 14 Mar 2026 15:09:26 GMT"), ("x-ms-version", "2026-10-06"),
            ("x-ms-meta-owner", "alice"),
        ]

        func authorization() -> String {
            guard let signer = try? AzureSharedKeySigner(account: account, base64Key: key) else { return "bad key" }
            return signer.authorization(method: method, encodedPath: path, query: query, headers: headers)
        }
    }

    @Test func everySharedKeyInputCharacterChangesTheSignature() {
        let base = SharedKeyRequest()
        let baseline = base.authorization()
        var changed: [SharedKeyRequest] = []
        for field: WritableKeyPath<SharedKeyRequest, String> in [\.account, \.method, \.path] {
            for variant in Self.variants(base[keyPath: field]) {
                var request = base
                request[keyPath: field] = variant
                changed.append(request)
            }
        }
        // One decoded key byte at a time (a character change in base64 may not decode).
        if let keyBytes = Base64.decode(base.key) {
            for index in keyBytes.indices {
                var bytes = keyBytes
                bytes[index] ^= 0x01
                var request = base
                request.key = Base64.encode(bytes)
                changed.append(request)
            }
        }
        changed += Self.pairVariants(of: base, \.query) + Self.pairVariants(of: base, \.headers)
        #expect(changed.count > 200)
        for request in changed {
            let authorization = request.authorization()
            #expect(authorization != baseline, "\(request)")
            #expect(authorization.hasPrefix("SharedKey "))
        }
    }

    @Test func everySASInputChangesTheToken() throws {
        let key = SharedKeyRequest().key
        let start = Date(timeIntervalSince1970: 1_773_500_966)
        let expiry = start.addingTimeInterval(86_400)
        func service(
            container: String = "source", blob: String? = "a/b.txt", permissions: String = "rl", start: Date? = start,
            expiry: Date = expiry, version: String = "2026-10-06", protocols: String? = "https"
        ) throws -> String {
            try AzureSAS.serviceSAS(
                account: "acct", base64Key: key, container: container, blob: blob, permissions: permissions,
                start: start, expiry: expiry, version: version, protocols: protocols)
        }
        let baseline = try service()
        var tokens = [
            try service(blob: nil), try service(start: nil), try service(protocols: nil),
            try service(version: "2025-11-05"), try service(expiry: expiry.addingTimeInterval(1)),
            try service(start: start.addingTimeInterval(1)),
        ]
        tokens += try Self.variants("source").map { try service(container: $0) }
        tokens += try Self.variants("a/b.txt").map { try service(blob: $0) }
        tokens += try Self.variants("rl").map { try service(permissions: $0) }
        for token in tokens {
            #expect(token != baseline)
        }
    }
}
