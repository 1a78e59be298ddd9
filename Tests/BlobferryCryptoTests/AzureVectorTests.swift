import Foundation
import Testing

@testable import BlobferryCrypto

/// Every request and token in Vectors/azure_vectors.json, produced by azure-storage-blob:
/// the Authorization value, its string-to-sign and each SAS token must be identical.
struct AzureVectorTests {
    static let file = try? VectorFiles.load("azure_vectors", as: AzureVectorFile.self)
    static let sharedKeyVectors = file?.sharedKey ?? []
    static let sasVectors = file?.sas ?? []

    @Test func theVectorFileIsThereAndCoversTheCases() throws {
        let file = try VectorFiles.load("azure_vectors", as: AzureVectorFile.self)
        #expect(file.sharedKey.count >= 15)
        #expect(file.sas.count >= 10)
        #expect(file.defaultVersion == AzureSAS.defaultVersion)
        #expect(file.sharedKey.contains { $0.input.encodedPath.hasPrefix("/devstoreaccount1/") })
    }

    @Test(arguments: sharedKeyVectors)
    func sharedKeyMatchesTheSDK(vector: AzureVectorFile.SharedKeyVector) throws {
        let input = vector.input
        let signer = try AzureSharedKeySigner(account: input.account, base64Key: input.key)
        let query = VectorFiles.pairs(input.query)
        let headers = VectorFiles.pairs(input.headers)
        #expect(
            signer.stringToSign(method: input.method, encodedPath: input.encodedPath, query: query, headers: headers)
                == vector.expected.stringToSign)
        // Exact string equality: one different character anywhere fails the vector.
        #expect(
            signer.authorization(method: input.method, encodedPath: input.encodedPath, query: query, headers: headers)
                == vector.expected.authorization)
    }

    @Test(arguments: sasVectors)
    func sasMatchesTheSDK(vector: AzureVectorFile.SASVector) throws {
        let input = vector.input
        let start = input.start.map { Date(timeIntervalSince1970: TimeInterval($0)) }
        let expiry = Date(timeIntervalSince1970: TimeInterval(input.expiry))
        let token: String
        if vector.kind == "account" {
            token = try AzureSAS.accountSAS(
                account: input.account, base64Key: input.key, services: input.services ?? "",
                resourceTypes: input.resourceTypes ?? "", permissions: input.permissions, start: start, expiry: expiry,
                version: input.version, protocols: input.protocols)
        } else {
            token = try AzureSAS.serviceSAS(
                account: input.account, base64Key: input.key, container: input.container ?? "", blob: input.blob,
                permissions: input.permissions, start: start, expiry: expiry, version: input.version,
                protocols: input.protocols)
        }
        #expect(token == vector.expected["token"])
    }

    static let key = "BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4/QEFCQ0RFRg=="

    @Test(arguments: ["2019-12-12", "2020-10-02", "2099-01-01", "", "latest"])
    func unsupportedSASVersionsThrow(version: String) {
        let expiry = Date(timeIntervalSince1970: 1_773_500_966)
        #expect(throws: CryptoError.self) {
            try AzureSAS.serviceSAS(
                account: "a", base64Key: Self.key, container: "c", blob: nil, permissions: "r", start: nil,
                expiry: expiry, version: version, protocols: nil)
        }
        #expect(throws: CryptoError.self) {
            try AzureSAS.accountSAS(
                account: "a", base64Key: Self.key, services: "b", resourceTypes: "sco", permissions: "r", start: nil,
                expiry: expiry, version: version, protocols: nil)
        }
    }

    @Test func aKeyThatIsNotBase64ThrowsWithoutQuotingIt() {
        let badKey = "not-a-key!SECRETPART=="
        do {
            _ = try AzureSharedKeySigner(account: "acct", base64Key: badKey)
            Issue.record("accepted a bad key")
        } catch {
            #expect(!"\(error)".contains("SECRETPART"))
            #expect("\(error)".contains("acct"))
        }
        #expect(throws: CryptoError.self) {
            try AzureSAS.serviceSAS(
                account: "a", base64Key: badKey, container: "c", blob: nil, permissions: "r", start: nil,
                expiry: Date(), version: AzureSAS.defaultVersion, protocols: nil)
        }
        #expect(throws: CryptoError.self) { try AzureSharedKeySigner(account: "acct", base64Key: "") }
    }

    @Test func signerNeverPrintsTheKey() throws {
        let signer = try AzureSharedKeySigner(account: "acct", base64Key: Self.key)
        var dumped = ""
        dump(signer, to: &dumped)
        for text in [signer.description, String(reflecting: signer), dumped] {
            #expect(text.contains("acct"))
            #expect(!text.contains("BwgJ"))
            #expect(!text.contains("7, 8, 9"))
        }
    }

    @Test func repeatedQueryParametersAreCommaJoinedSorted() throws {
        let signer = try AzureSharedKeySigner(account: "acct", base64Key: Self.key)
        let text = signer.stringToSign(
            method: "get", encodedPath: "",
            query: [("Include", "snapshots"), ("include", "metadata"), ("comp", "list")],
            headers: [("Content-Length", "0")])
        #expect(text == "GET\n\n\n\n\n\n\n\n\n\n\n\n/acct/\ncomp:list\ninclude:metadata,snapshots")
    }

    /// The order azure-storage-blob 12.31.1's `_storage_header_sort` gives for these names
    /// (run by hand with the SDK). A hyphen only breaks ties: "blobtype" sorts before "blob-type".
    @Test func headerCollation() {
        let names = [
            "x-ms-meta-z", "x-ms-meta-a-c", "x-ms-meta-ab", "x-ms-meta-aa", "x-ms-meta-a1", "x-ms-meta-a_b",
            "x-ms-version", "x-ms-date", "x-ms-blob-type", "x-ms-blobtype", "x-ms-blob-content-md5",
        ]
        #expect(
            names.sorted(by: AzureHeaderCollation.precedes) == [
                "x-ms-blob-content-md5", "x-ms-blobtype", "x-ms-blob-type", "x-ms-date", "x-ms-meta-a_b",
                "x-ms-meta-a1", "x-ms-meta-aa", "x-ms-meta-ab", "x-ms-meta-a-c", "x-ms-meta-z", "x-ms-version",
            ])
        #expect(AzureHeaderCollation.compare(Array("a-b".utf8), Array("ab-".utf8)) == 1)
        #expect(AzureHeaderCollation.compare(Array("ab".utf8), Array("ab".utf8)) == 0)
        #expect(AzureHeaderCollation.compare(Array("a".utf8), Array("ab".utf8)) == -1)
    }
}
