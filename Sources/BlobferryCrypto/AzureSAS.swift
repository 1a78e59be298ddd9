import Foundation

/// Azure shared access signatures signed with the account key: service SAS (one container or
/// one blob) and account SAS.
///
/// Only tests mint tokens (for the emulator: read+list, list-only, expired, forged); blobferry
/// itself sends a token an operator gives it (`AzureSASSigner`). It stays in this module,
/// rather than in BlobferryTestSupport, because it is the same HMAC crypto as Shared Key,
/// checked against the Azure SDK's vectors by BlobferryCryptoTests, and both test targets
/// use it; BlobferryTestSupport depends on no blobferry module.
///
/// Only signed versions whose string-to-sign this type implements are accepted: 2020-12-06
/// and later (the versions azure-storage-blob 12.x knows, up to its default), where the
/// service SAS string-to-sign carries signedEncryptionScope and the account SAS one ends
/// with it. Any other `version` throws rather than producing a token
/// the service would reject. Tokens list parameters in the SDK's order and encoding, so the
/// same inputs give the same token as `generate_container_sas` / `generate_blob_sas` /
/// `generate_account_sas`.
public enum AzureSAS {
    /// azure-storage-blob's default x-ms-version (12.31), also its default signed version.
    public static let defaultVersion = "2026-10-06"

    /// Signed versions with the string-to-sign implemented here.
    public static let supportedVersions: Set<String> = [
        "2020-12-06", "2021-02-12", "2021-04-10", "2021-06-08", "2021-08-06", "2021-12-02", "2022-11-02",
        "2023-01-03", "2023-05-03", "2023-08-03", "2023-11-03", "2024-05-04", "2024-08-04", "2024-11-04",
        "2025-01-05", "2025-05-05", "2025-07-05", "2025-11-05", "2026-02-06", "2026-04-06", "2026-06-06",
        "2026-10-06",
    ]

    /// Service SAS for a container (blob == nil) or a blob; returns the query string without "?".
    ///
    /// `blob` is the blob name as stored (not URL-encoded). `protocols` is e.g. "https" or
    /// "https,http"; nil or "" leaves spr out.
    public static func serviceSAS(
        account: String, base64Key: String, container: String, blob: String?, permissions: String, start: Date?,
        expiry: Date, version: String, protocols: String?
    ) throws -> String {
        let key = try validated(account: account, base64Key: base64Key, version: version)
        let resource = blob == nil ? "c" : "b"
        let path = "/blob/" + account + "/" + container + (blob.map { "/" + $0 } ?? "")
        let startText = start.map { UTCTimestamp($0).iso8601 } ?? ""
        let expiryText = UTCTimestamp(expiry).iso8601
        let protocolText = protocols ?? ""
        // signedPermissions, signedStart, signedExpiry, canonicalizedResource, signedIdentifier,
        // signedIP, signedProtocol, signedVersion, signedResource, signedSnapshotTime,
        // signedEncryptionScope, rscc, rscd, rsce, rscl, rsct.
        let stringToSign = [
            permissions, startText, expiryText, path, "", "", protocolText, version, resource, "", "", "", "", "", "",
            "",
        ].joined(separator: "\n")
        let signature = Base64.encode(Digest.hmacSHA256(key: key, data: Array(stringToSign.utf8)))
        return token([
            ("st", startText), ("se", expiryText), ("sp", permissions), ("spr", protocolText), ("sv", version),
            ("sr", resource), ("sig", signature),
        ])
    }

    /// Account SAS: `services` e.g. "b", `resourceTypes` e.g. "sco", `permissions` e.g. "rl".
    public static func accountSAS(
        account: String, base64Key: String, services: String, resourceTypes: String, permissions: String,
        start: Date?, expiry: Date, version: String, protocols: String?
    ) throws -> String {
        let key = try validated(account: account, base64Key: base64Key, version: version)
        let startText = start.map { UTCTimestamp($0).iso8601 } ?? ""
        let expiryText = UTCTimestamp(expiry).iso8601
        let protocolText = protocols ?? ""
        // accountname, signedPermissions, signedService, signedResourceType, signedStart,
        // signedExpiry, signedIP, signedProtocol, signedVersion, signedEncryptionScope; each
        // followed by a newline.
        let stringToSign = [
            account, permissions, services, resourceTypes, startText, expiryText, "", protocolText, version, "",
        ].map { $0 + "\n" }.joined()
        let signature = Base64.encode(Digest.hmacSHA256(key: key, data: Array(stringToSign.utf8)))
        return token([
            ("st", startText), ("se", expiryText), ("sp", permissions), ("spr", protocolText), ("sv", version),
            ("ss", services), ("srt", resourceTypes), ("sig", signature),
        ])
    }

    private static func validated(account: String, base64Key: String, version: String) throws -> [UInt8] {
        guard supportedVersions.contains(version) else {
            throw CryptoError(
                "SAS version \(version) is not supported; use one of 2020-12-06 ... \(defaultVersion)")
        }
        guard let key = Base64.decode(base64Key), !key.isEmpty else {
            throw CryptoError("the Azure storage account key for \(account) is not valid base64")
        }
        return key
    }

    /// "name=value&..." with empty values left out and values encoded like Python's
    /// `urllib.parse.quote` ("/" kept), as the SDK does.
    private static func token(_ pairs: [(String, String)]) -> String {
        pairs.filter { !$0.1.isEmpty }
            .map { $0.0 + "=" + AWSURIEncoding.encode($0.1, encodeSlash: false) }
            .joined(separator: "&")
    }
}
