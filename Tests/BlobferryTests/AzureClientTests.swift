import BlobferryCrypto
import BlobferryHTTP
import BlobferryTestSupport
import Foundation
import Testing

@testable import Blobferry

/// AzureBlobClient against the project's emulator: awkward names through every operation,
/// paged and prefix listings, ranged reads, error classification (missing blob and
/// container, wrong key, SAS scope) and injected 503s with Retry-After.
@Suite struct AzureClientTests {
    // MARK: - Fixtures

    /// One HTTP engine and one client on a fresh container; the engine stops with it.
    final class Fixture: @unchecked Sendable {
        let http: HTTPEngine
        let client: AzureBlobClient
        let endpoint: String
        let account: String
        let key: String
        let container: String

        /// `emulator`: a dedicated emulator; nil uses the shared one from services.env.
        init(
            _ label: String, emulator: AzureEmulatorProcess? = nil, createContainer: Bool = true
        ) async throws {
            if let emulator {
                endpoint = emulator.endpoint
                account = emulator.account
                key = emulator.key
            } else {
                endpoint = try TestEnvironment.value("BLOBFERRY_TEST_AZURE_ENDPOINT")
                account = try TestEnvironment.value("BLOBFERRY_TEST_AZURE_ACCOUNT")
                key = try TestEnvironment.value("BLOBFERRY_TEST_AZURE_KEY")
            }
            container = AzureClientTests.uniqueContainer(label)
            http = try HTTPEngine()
            client = try AzureBlobClient(
                endpoint: endpoint, container: container,
                credential: .sharedKey(account: account, key: Secret(key)), http: http)
            if createContainer { try await client.createContainer() }
        }

        /// Another client on the same container and engine, with other credentials.
        func client(_ credential: AzureCredential, container other: String? = nil) throws -> AzureBlobClient {
            try AzureBlobClient(endpoint: endpoint, container: other ?? container, credential: credential, http: http)
        }

        deinit { http.shutdown() }
    }

    /// Lowercase, 3-63 characters, unique per call.
    static func uniqueContainer(_ label: String) -> String {
        "az-\(label.prefix(40))-\(UUID().uuidString.prefix(12).lowercased())"
    }

    /// Deterministic bytes of `size` derived from `seed`.
    static func bytes(_ seed: String, size: Int) -> [UInt8] {
        var state = UInt64(
            truncatingIfNeeded: seed.utf8.reduce(1469598103934665603) { ($0 ^ UInt64($1)) &* 1099511628211 })
        return (0..<size).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
    }

    static func md5(_ bytes: [UInt8]) -> String { Base64.encode(Digest.md5(bytes)) }

    /// Azure (and the emulator) list names in UTF-8 binary order.
    static func utf8Sorted(_ names: [String]) -> [String] {
        names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// Names compared byte for byte (Swift's == treats NFC and NFD as equal).
    static func utf8(_ names: [String]) -> [[UInt8]] { names.map { Array($0.utf8) } }

    /// Every page of a listing, following NextMarker.
    static func listAll(_ client: AzureBlobClient, prefix: String = "", maxResults: Int, includeMetadata: Bool = true)
        async throws -> (blobs: [BlobItem], pages: [Int])
    {
        var blobs: [BlobItem] = []
        var pages: [Int] = []
        var marker: String?
        repeat {
            let page = try await client.listBlobs(
                prefix: prefix, marker: marker, maxResults: maxResults, includeMetadata: includeMetadata)
            blobs += page.blobs
            pages.append(page.blobs.count)
            marker = page.nextMarker
            if pages.count > 10_000 { Issue.record("listing does not end"); break }
        } while marker != nil
        return (blobs, pages)
    }

    // MARK: - Awkward names

    static let longName = "long-" + String(repeating: "abcdefghij", count: 100) + ".bin"  // 1,009 bytes

    static let awkwardNames = AwkwardNames.all + [longName, "tab\there"]

    static let metadata = ["origin": "azure", "CamelKey": "Value With Spaces", "n_1": "42"]
    static let contentType = "text/plain; charset=utf-8"

    /// "dir/sub/file" is empty; the others have 1...3000 bytes.
    static func size(of name: String) -> Int { name == "dir/sub/file" ? 0 : (name.utf8.count * 37) % 3000 + 1 }

    @Test(arguments: awkwardNames)
    func awkwardNameRoundTrips(_ name: String) async throws {
        let fixture = try await Fixture("name")
        let client = fixture.client
        let body = Self.bytes(name, size: Self.size(of: name))
        try await client.putBlob(name, body: body, contentType: Self.contentType, metadata: Self.metadata)

        let page = try await client.listBlobs(prefix: "", marker: nil, maxResults: 5000, includeMetadata: true)
        #expect(page.nextMarker == nil)
        #expect(Self.utf8(page.blobs.map(\.name)) == Self.utf8([name]))
        let listed = try #require(page.blobs.first)
        #expect(listed.size == body.count)
        #expect(listed.contentMD5 == Self.md5(body))
        #expect(listed.contentType == Self.contentType)
        #expect(listed.metadata == Self.metadata)

        let byPrefix = try await client.listBlobs(prefix: name, marker: nil, maxResults: 10, includeMetadata: false)
        #expect(Self.utf8(byPrefix.blobs.map(\.name)) == Self.utf8([name]))
        #expect(byPrefix.blobs.first?.metadata == [:])

        let download = try await client.getBlob(name)
        #expect(Self.md5(download.body) == Self.md5(body))
        #expect(download.body.count == body.count)
        #expect(download.totalSize == body.count)
        #expect(download.contentMD5 == Self.md5(body))
        #expect(download.contentType == Self.contentType)
        #expect(download.metadata == Self.metadata)
        #expect(download.etag != nil)

        let properties = try await client.getBlobProperties(name)
        #expect(Array(properties.name.utf8) == Array(name.utf8))
        #expect(properties.size == body.count)
        #expect(properties.contentMD5 == Self.md5(body))
        #expect(properties.contentType == Self.contentType)
        #expect(properties.metadata == Self.metadata)

        try await client.deleteBlob(name)
        let gone = await captureRemoteError { _ = try await client.getBlob(name) }
        #expect(gone?.kind == .notFound)
        #expect(gone?.code == "BlobNotFound")
    }

    @Test func allAwkwardNamesListTogetherInBinaryOrder() async throws {
        let fixture = try await Fixture("all-names")
        var bodies: [String: [UInt8]] = [:]
        try await withThrowingTaskGroup(of: Void.self) { group in
            for name in Self.awkwardNames {
                let body = Self.bytes(name, size: Self.size(of: name))
                bodies[name] = body
                group.addTask { try await fixture.client.putBlob(name, body: body, contentType: Self.contentType) }
            }
            try await group.waitForAll()
        }
        let (blobs, pages) = try await Self.listAll(fixture.client, maxResults: 5000)
        #expect(pages.count == 1)
        #expect(Self.utf8(blobs.map(\.name)) == Self.utf8(Self.utf8Sorted(Self.awkwardNames)))
        for blob in blobs {
            let body = try #require(bodies[blob.name])
            #expect(blob.size == body.count, "\(blob.name)")
            #expect(blob.contentMD5 == Self.md5(body), "\(blob.name)")
        }
    }

    /// A name XML cannot carry comes back `<Name Encoded="true">` percent-encoded; the
    /// listing must hand back the name itself, or the blob cannot be fetched.
    @Test func nameWithXMLInvalidCharacterListsDecoded() async throws {
        let fixture = try await Fixture("xml-invalid")
        let name = "bell\u{07}and\u{1B}escape"
        let body = Self.bytes(name, size: 100)
        try await fixture.client.putBlob(name, body: body)
        #expect(Self.md5(try await fixture.client.getBlob(name).body) == Self.md5(body))
        let page = try await fixture.client.listBlobs(prefix: "", marker: nil, maxResults: 10)
        #expect(Self.utf8(page.blobs.map(\.name)) == Self.utf8([name]))
        // The listed name is what the producer enqueues: it must fetch the blob itself.
        let listed = try #require(page.blobs.first?.name)
        #expect(Self.md5(try await fixture.client.getBlob(listed).body) == Self.md5(body))
    }

    @Test func endpointWithTrailingSlashWorks() async throws {
        let fixture = try await Fixture("slash")
        let client = try AzureBlobClient(
            endpoint: fixture.endpoint + "/", container: fixture.container,
            credential: .sharedKey(account: fixture.account, key: Secret(fixture.key)), http: fixture.http)
        let body = Self.bytes("slash", size: 321)
        try await client.putBlob("a b/c+d", body: body)
        #expect(try await client.listBlobs(prefix: "", marker: nil, maxResults: 10).blobs.map(\.name) == ["a b/c+d"])
        #expect(try await client.getBlob("a b/c+d").body == body)
    }

    // MARK: - Listing

    static let pagedNames: [String] = {
        let suffixes = ["", " space", "+plus", "%pct", "?q", "#h", "&a=b", "~t", "-ü", "/😀", "/sub/x", ".z"]
        return (0..<50).map { index in
            let head = ["a", "B", "_", "-", "é", "z", "0", "日"][index % 8]
            return "\(head)\(String(format: "%03d", 97 * index % 50))\(suffixes[index % suffixes.count])"
        }
    }()

    @Test func pagedListingReturnsEveryNameOnceInOrder() async throws {
        let fixture = try await Fixture("paged")
        #expect(Set(Self.pagedNames).count == 50)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for name in Self.pagedNames {
                group.addTask { try await fixture.client.putBlob(name, body: Self.bytes(name, size: 17)) }
            }
            try await group.waitForAll()
        }
        let (blobs, pages) = try await Self.listAll(fixture.client, maxResults: 7)
        #expect(pages == [7, 7, 7, 7, 7, 7, 7, 1])
        #expect(Self.utf8(blobs.map(\.name)) == Self.utf8(Self.utf8Sorted(Self.pagedNames)))
        #expect(blobs.allSatisfy { $0.size == 17 })

        // A page that ends exactly at the last name has no NextMarker.
        let (exact, exactPages) = try await Self.listAll(fixture.client, maxResults: 10)
        #expect(exactPages == [10, 10, 10, 10, 10])
        #expect(Self.utf8(exact.map(\.name)) == Self.utf8(Self.utf8Sorted(Self.pagedNames)))
    }

    @Test func pagedListingFollowsAServerThatReturnsFewerThanAsked() async throws {
        let emulator = try AzureEmulatorProcess(maxPage: 4)
        let fixture = try await Fixture("short-pages", emulator: emulator)
        let names = Array(Self.pagedNames.prefix(18))
        for name in names { try await fixture.client.putBlob(name, body: [1, 2, 3]) }
        let (blobs, pages) = try await Self.listAll(fixture.client, maxResults: 7)
        #expect(pages == [4, 4, 4, 4, 2])
        #expect(Self.utf8(blobs.map(\.name)) == Self.utf8(Self.utf8Sorted(names)))
    }

    static let prefixCases: [(prefix: String, expected: [String])] = [
        ("pre/", ["pre/a", "pre/b b", "pre/sub/c"]),
        ("pre", ["pre", "pre-x", "pre/a", "pre/b b", "pre/sub/c", "prefix"]),
        ("pre/sub/", ["pre/sub/c"]),
        ("a+b ", ["a+b c", "a+b d%20"]),
        ("%", ["%25", "%lit"]),
        ("ü", ["ü/1", "ü/2"]),
        ("nothing-here", []),
        (
            "",
            [
                "%25", "%lit", "a+b c", "a+b d%20", "a+bc", "other", "pr", "pre", "pre-x", "pre/a", "pre/b b",
                "pre/sub/c", "prefix", "u", "ü/1", "ü/2",
            ]
        ),
    ]

    @Test(arguments: prefixCases)
    func prefixListing(_ prefix: String, _ expected: [String]) async throws {
        let fixture = try await Fixture("prefix")
        for name in Self.prefixCases.last!.expected { try await fixture.client.putBlob(name, body: Array(name.utf8)) }
        let (blobs, _) = try await Self.listAll(fixture.client, prefix: prefix, maxResults: 3)
        #expect(Self.utf8(blobs.map(\.name)) == Self.utf8(Self.utf8Sorted(expected)))
        #expect(blobs.map(\.size) == Self.utf8Sorted(expected).map { $0.utf8.count })
    }

    // MARK: - Ranged reads

    @Test func rangedGetReturnsExactlyThoseBytes() async throws {
        let fixture = try await Fixture("range")
        let name = "ranged ü+%.bin"
        let body = Self.bytes(name, size: 1000)
        try await fixture.client.putBlob(name, body: body, contentType: "application/x-test", metadata: ["k": "v"])

        let part = try await fixture.client.getBlob(name, range: 10...99)
        #expect(part.body == Array(body[10...99]))
        #expect(part.body.count == 90)
        #expect(part.totalSize == 1000)
        #expect(part.contentMD5 == Self.md5(body))  // the whole blob's MD5
        #expect(part.contentType == "application/x-test")
        #expect(part.metadata == ["k": "v"])

        let first = try await fixture.client.getBlob(name, range: 0...0)
        #expect(first.body == [body[0]])
        #expect(first.totalSize == 1000)

        let tail = try await fixture.client.getBlob(name, range: 990...5000)
        #expect(tail.body == Array(body[990...]))
        #expect(tail.totalSize == 1000)
    }

    // MARK: - Errors

    @Test func missingBlobIsNotFound() async throws {
        let fixture = try await Fixture("missing-blob")
        let get = await captureRemoteError { _ = try await fixture.client.getBlob("no such blob") }
        #expect(get?.kind == .notFound)
        #expect(get?.status == 404)
        #expect(get?.code == "BlobNotFound")
        #expect(get?.service == .azure)

        let head = await captureRemoteError { _ = try await fixture.client.getBlobProperties("no such blob") }
        #expect(head?.kind == .notFound)
        #expect(head?.code == "BlobNotFound")

        let delete = await captureRemoteError { try await fixture.client.deleteBlob("no such blob") }
        #expect(delete?.kind == .notFound)

        let ranged = await captureRemoteError { _ = try await fixture.client.getBlob("no such blob", range: 0...9) }
        #expect(ranged?.kind == .notFound)
    }

    @Test func missingContainerIsNotFound() async throws {
        let fixture = try await Fixture("missing-container", createContainer: false)
        let access = await captureRemoteError { try await fixture.client.checkAccess() }
        #expect(access?.kind == .notFound)
        #expect(access?.status == 404)
        #expect(access?.code == "ContainerNotFound")

        let get = await captureRemoteError { _ = try await fixture.client.getBlob("x") }
        #expect(get?.kind == .notFound)
        #expect(get?.code == "ContainerNotFound")

        // Creating it makes the same client work; creating it twice is fine.
        try await fixture.client.createContainer()
        try await fixture.client.createContainer()
        try await fixture.client.checkAccess()
    }

    @Test func wrongKeyIsAuthorization() async throws {
        let fixture = try await Fixture("wrong-key")
        try await fixture.client.putBlob("present", body: [1, 2, 3])
        let wrongKey = Base64.encode(Self.bytes("not the key", size: 64))
        let client = try fixture.client(.sharedKey(account: fixture.account, key: Secret(wrongKey)))

        let access = await captureRemoteError { try await client.checkAccess() }
        #expect(access?.kind == .authorization)
        #expect(access?.status == 403)
        #expect(access?.code == "AuthenticationFailed")
        #expect(access.map { !$0.description.contains(wrongKey) } == true)

        let get = await captureRemoteError { _ = try await client.getBlob("present") }
        #expect(get?.kind == .authorization)
        let head = await captureRemoteError { _ = try await client.getBlobProperties("present") }
        #expect(head?.kind == .authorization)
        let put = await captureRemoteError { try await client.putBlob("other", body: [1]) }
        #expect(put?.kind == .authorization)
    }

    @Test func keyThatIsNotBase64IsAConfigurationError() throws {
        let http = try HTTPEngine()
        defer { http.shutdown() }
        #expect(throws: BlobferryError.self) {
            _ = try AzureBlobClient(
                endpoint: "http://127.0.0.1:1/devstoreaccount1", container: "c",
                credential: .sharedKey(account: "devstoreaccount1", key: Secret("not base64 !!")), http: http)
        }
    }

    // MARK: - SAS

    static let sasNames = ["plain.txt", "dir/sub/ünï code+%20?#&=.txt", "emoji 😀.bin", " lead"]

    static func seeded(_ label: String) async throws -> (Fixture, [String: [UInt8]]) {
        let fixture = try await Fixture(label)
        var bodies: [String: [UInt8]] = [:]
        for name in sasNames {
            let body = bytes(name, size: 300)
            bodies[name] = body
            try await fixture.client.putBlob(name, body: body, contentType: "application/x-sas", metadata: ["m": "1"])
        }
        return (fixture, bodies)
    }

    static func expectListAndGet(_ client: AzureBlobClient, _ bodies: [String: [UInt8]]) async throws {
        try await client.checkAccess()
        let (blobs, _) = try await listAll(client, maxResults: 2)
        #expect(utf8(blobs.map(\.name)) == utf8(utf8Sorted(Array(bodies.keys))))
        #expect(blobs.allSatisfy { $0.metadata == ["m": "1"] && $0.contentType == "application/x-sas" })
        for (name, body) in bodies {
            let download = try await client.getBlob(name)
            #expect(md5(download.body) == md5(body), "\(name)")
            let part = try await client.getBlob(name, range: 10...99)
            #expect(part.body == Array(body[10...99]), "\(name)")
            #expect(try await client.getBlobProperties(name).size == body.count, "\(name)")
        }
    }

    static var expiry: Date { Date().addingTimeInterval(3600) }

    @Test(arguments: ["", "?"])
    func containerServiceSASListsAndReads(_ leading: String) async throws {
        let (fixture, bodies) = try await Self.seeded("sas-service")
        let token = try AzureSAS.serviceSAS(
            account: fixture.account, base64Key: fixture.key, container: fixture.container, blob: nil,
            permissions: "rl", start: Date().addingTimeInterval(-300), expiry: Self.expiry,
            version: AzureSAS.defaultVersion, protocols: nil)
        try await Self.expectListAndGet(try fixture.client(.sas(Secret(leading + token))), bodies)
    }

    @Test func accountSASListsAndReads() async throws {
        let (fixture, bodies) = try await Self.seeded("sas-account")
        let token = try AzureSAS.accountSAS(
            account: fixture.account, base64Key: fixture.key, services: "b", resourceTypes: "co", permissions: "rl",
            start: nil, expiry: Self.expiry, version: AzureSAS.defaultVersion, protocols: "https,http")
        try await Self.expectListAndGet(try fixture.client(.sas(Secret(token))), bodies)
    }

    @Test(arguments: sasNames)
    func blobServiceSASReadsThatBlobOnly(_ name: String) async throws {
        let (fixture, bodies) = try await Self.seeded("sas-blob")
        let token = try AzureSAS.serviceSAS(
            account: fixture.account, base64Key: fixture.key, container: fixture.container, blob: name,
            permissions: "r", start: nil, expiry: Self.expiry, version: "2021-12-02", protocols: nil)
        let client = try fixture.client(.sas(Secret(token)))
        #expect(Self.md5(try await client.getBlob(name).body) == Self.md5(bodies[name]!))
        let other = Self.sasNames.first { $0 != name }!
        let refused = await captureRemoteError { _ = try await client.getBlob(other) }
        #expect(refused?.kind == .authorization)
    }

    @Test func sasWithoutListPermissionIsRefused() async throws {
        let (fixture, bodies) = try await Self.seeded("sas-no-list")
        let serviceToken = try AzureSAS.serviceSAS(
            account: fixture.account, base64Key: fixture.key, container: fixture.container, blob: nil,
            permissions: "r", start: nil, expiry: Self.expiry, version: AzureSAS.defaultVersion, protocols: nil)
        let accountToken = try AzureSAS.accountSAS(
            account: fixture.account, base64Key: fixture.key, services: "b", resourceTypes: "co", permissions: "r",
            start: nil, expiry: Self.expiry, version: AzureSAS.defaultVersion, protocols: nil)
        for token in [serviceToken, accountToken] {
            let client = try fixture.client(.sas(Secret(token)))
            let list = await captureRemoteError { try await client.checkAccess() }
            #expect(list?.kind == .authorization)
            #expect(list?.status == 403)
            #expect(list?.code == "AuthorizationPermissionMismatch")
            // Reading is still allowed.
            #expect(Self.md5(try await client.getBlob("plain.txt").body) == Self.md5(bodies["plain.txt"]!))
            // Writing is not.
            let put = await captureRemoteError { try await client.putBlob("new", body: [1]) }
            #expect(put?.kind == .authorization)
        }
    }

    @Test func tamperedOrExpiredSASIsRefused() async throws {
        let (fixture, _) = try await Self.seeded("sas-bad")
        let good = try AzureSAS.serviceSAS(
            account: fixture.account, base64Key: fixture.key, container: fixture.container, blob: nil,
            permissions: "rl", start: nil, expiry: Self.expiry, version: AzureSAS.defaultVersion, protocols: nil)
        let otherKey = Base64.encode(Self.bytes("other key", size: 64))
        let forged = try AzureSAS.serviceSAS(
            account: fixture.account, base64Key: otherKey, container: fixture.container, blob: nil,
            permissions: "rl", start: nil, expiry: Self.expiry, version: AzureSAS.defaultVersion, protocols: nil)
        let expired = try AzureSAS.serviceSAS(
            account: fixture.account, base64Key: fixture.key, container: fixture.container, blob: nil,
            permissions: "rl", start: nil, expiry: Date().addingTimeInterval(-60), version: AzureSAS.defaultVersion,
            protocols: nil)
        let otherContainer = try AzureSAS.serviceSAS(
            account: fixture.account, base64Key: fixture.key, container: fixture.container + "x", blob: nil,
            permissions: "rl", start: nil, expiry: Self.expiry, version: AzureSAS.defaultVersion, protocols: nil)
        try await fixture.client(.sas(Secret(good))).checkAccess()
        for token in [forged, expired, otherContainer] {
            let error = await captureRemoteError { try await fixture.client(.sas(Secret(token))).checkAccess() }
            #expect(error?.kind == .authorization)
            #expect(error?.status == 403)
            #expect(error.map { !$0.description.contains("sig=") } == true)
        }
    }

    // MARK: - Injected failures

    @Test func injectedServerBusyIsTransientWithRetryAfter() async throws {
        let emulator = try AzureEmulatorProcess(failRate: 1.0, failMethods: ["GET"], retryAfter: 2)
        let fixture = try await Fixture("busy", emulator: emulator)
        // PUT is not failing: the blob lands.
        try await fixture.client.putBlob("busy blob", body: [1, 2, 3])
        let failures: [(String, () async throws -> Void)] = [
            ("getBlob", { _ = try await fixture.client.getBlob("busy blob") }),
            ("getBlob range", { _ = try await fixture.client.getBlob("busy blob", range: 0...1) }),
            ("listBlobs", { _ = try await fixture.client.listBlobs(prefix: "", marker: nil, maxResults: 7) }),
            ("checkAccess", { try await fixture.client.checkAccess() }),
        ]
        for (label, call) in failures {
            let error = await captureRemoteError(call)
            #expect(error?.kind == .transient, "\(label)")
            #expect(error?.status == 503, "\(label)")
            #expect(error?.code == "ServerBusy", "\(label)")
            #expect(error?.retryAfter == 2, "\(label)")
        }
        // HEAD is not in failMethods.
        #expect(try await fixture.client.getBlobProperties("busy blob").size == 3)
        // Turning failures off lets the same client read.
        try emulator.configure(failRate: 0)
        #expect(try await fixture.client.getBlob("busy blob").body == [1, 2, 3])
    }

    @Test func unreachableEndpointIsTransient() async throws {
        let http = try HTTPEngine()
        defer { http.shutdown() }
        let client = try AzureBlobClient(
            endpoint: "http://127.0.0.1:1/devstoreaccount1", container: "unreachable",
            credential: .sharedKey(account: "devstoreaccount1", key: Secret(AzureEmulatorProcess.developmentKey)),
            http: http, timeout: 5)
        let error = await captureRemoteError { try await client.checkAccess() }
        #expect(error?.kind == .transient)
        #expect(error?.status == nil)
    }
}
