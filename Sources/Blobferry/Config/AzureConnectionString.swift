import Foundation

/// An Azure Storage connection string (`AccountName=...;AccountKey=...;BlobEndpoint=...`),
/// as the Azure portal, Azurite and the SDKs hand them out.
struct AzureConnectionString {
    var account: String?
    var key: String?
    var sasToken: String?
    var blobEndpoint: String?

    /// Parses `name=value;` pairs; values may contain `=` (base64 keys end with it).
    init(parsing text: String) throws {
        var fields: [String: String] = [:]
        for part in text.split(separator: ";", omittingEmptySubsequences: true) {
            guard let equals = part.firstIndex(of: "=") else {
                throw BlobferryError(
                    .configuration, "AZURE_STORAGE_CONNECTION_STRING: a part has no '=' (expected Name=value;...)")
            }
            let name = part[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            fields[name] = String(part[part.index(after: equals)...]).trimmingCharacters(in: .whitespaces)
        }
        if fields["usedevelopmentstorage"]?.lowercased() == "true" {
            account = "devstoreaccount1"
            key = Self.developmentStorageKey
            blobEndpoint = "http://127.0.0.1:10000/devstoreaccount1"
            return
        }
        account = fields["accountname"]
        key = fields["accountkey"]
        sasToken = fields["sharedaccesssignature"]
        blobEndpoint = fields["blobendpoint"]
        if blobEndpoint == nil, let account {
            let scheme = fields["defaultendpointsprotocol"] ?? "https"
            let suffix = fields["endpointsuffix"] ?? "core.windows.net"
            blobEndpoint = "\(scheme)://\(account).blob.\(suffix)"
        }
    }

    /// The well-known key of the storage emulators (Azurite), public by design.
    static let developmentStorageKey =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
}
