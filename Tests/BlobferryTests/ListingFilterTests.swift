import BlobferryTestSupport
import Foundation
import Testing

@testable import Blobferry

/// Issue 11, "what to migrate": include/exclude globs and a Last-Modified window, applied
/// at listing and recorded in the job's meta.
@Suite struct ListingFilterTests {
    static func blob(_ name: String, modified: String? = "2026-03-01T00:00:00Z") -> BlobItem {
        BlobItem(name: name, size: 1, lastModified: modified.flatMap { ListingFilter.date($0) })
    }

    @Test func globsIncludeAndExclude() {
        let filter = ListingFilter(include: ["logs/*", "img/*.png"], exclude: ["*.tmp", "logs/private/*"])
        #expect(filter.admits(Self.blob("logs/2026/01/a.log")), "* crosses /")
        #expect(filter.admits(Self.blob("img/cat.png")))
        #expect(!filter.admits(Self.blob("img/cat.jpg")))
        #expect(!filter.admits(Self.blob("logs/a.tmp")))
        #expect(!filter.admits(Self.blob("logs/private/key")))
        #expect(!filter.admits(Self.blob("other/logs/a")), "a glob matches the whole name")
        #expect(ListingFilter(exclude: ["[0-9]*"]).admits(Self.blob("a1")))
        #expect(!ListingFilter(exclude: ["[0-9]*"]).admits(Self.blob("1a")))
        #expect(ListingFilter().isEmpty && ListingFilter().admits(Self.blob("anything")))
    }

    @Test func lastModifiedWindow() throws {
        let filter = ListingFilter(
            modifiedAfter: ListingFilter.date("2026-02-01"), modifiedBefore: ListingFilter.date("2026-03-01T00:00:00Z"))
        #expect(filter.admits(Self.blob("a", modified: "2026-02-01T00:00:00Z")), "the lower bound is inclusive")
        #expect(filter.admits(Self.blob("a", modified: "2026-02-28T23:59:59Z")))
        #expect(!filter.admits(Self.blob("a", modified: "2026-03-01T00:00:00Z")), "the upper bound is exclusive")
        #expect(!filter.admits(Self.blob("a", modified: "2026-01-31T23:59:59Z")))
        #expect(filter.admits(Self.blob("a", modified: nil)), "no Last-Modified: copied rather than missed")
    }

    @Test func badWindowsAreOneLine() throws {
        var environment = [
            "BLOBFERRY_JOB": "j", "AZURE_STORAGE_ACCOUNT": "a", "BLOBFERRY_SOURCE_CONTAINER": "photos",
            "BLOBFERRY_MODIFIED_AFTER": "last tuesday",
        ]
        func problem(_ environment: [String: String]) throws -> String? {
            do {
                try SettingsLoader.load(configPath: nil, environment: environment).validate(for: .producer)
                return nil
            } catch let error as BlobferryError {
                return error.message
            }
        }
        #expect(try problem(environment)?.contains("source.modified_after 'last tuesday' is not an ISO 8601") == true)
        environment["BLOBFERRY_MODIFIED_AFTER"] = "2026-05-01"
        environment["BLOBFERRY_MODIFIED_BEFORE"] = "2026-04-01"
        #expect(try problem(environment)?.contains("modified_after must be before") == true)
        environment["BLOBFERRY_MODIFIED_BEFORE"] = "2026-06-01T12:00:00Z"
        #expect(try problem(environment) == nil)
    }

    /// Only the names the filter admits reach Redis and S3; the filter is in meta, and a
    /// later pass with another filter is refused unless rebound.
    @Test func onlyAdmittedBlobsAreQueuedAndTheFilterIsBound() async throws {
        let harness = try await MigrationHarness(name: "filter")
        let names = ["keep/a", "keep/b.tmp", "keep/sub/c", "drop/d", "e"]
        _ = try await harness.seed(names)
        let environment = ["BLOBFERRY_INCLUDE": "keep/*", "BLOBFERRY_EXCLUDE": "*.tmp"]
        let producer = try await harness.run("blobferry-producer", label: "producer", environment: environment)
        #expect(producer.status == 0, "\(producer.output)")
        #expect(producer.output.contains("left out by the filter 3"), "\(producer.output)")
        #expect(try await harness.status().queued == 2)
        #expect(try await harness.run("blobferry-consumer", label: "consumer").status == 0)
        var copied: [String] = []
        var token: String?
        repeat {
            let page = try await harness.s3.listObjects(prefix: "", continuationToken: token)
            copied += page.keys
            token = page.next
        } while token != nil
        #expect(copied.sorted() == ["keep/a", "keep/sub/c"])
        let meta = try await harness.redis("HGET", harness.keys.meta, "filter_include").string
        #expect(meta == "keep/*")

        let other = try await harness.run(
            "blobferry-producer", label: "other-filter", environment: ["BLOBFERRY_INCLUDE": "drop/*"])
        #expect(other.status == BlobferryError.Code.configuration.rawValue, "\(other.output)")
        #expect(other.output.contains("filter_include=keep/*"), "\(other.output)")
        let rebound = try await harness.run(
            "blobferry-producer", label: "rebound",
            environment: ["BLOBFERRY_INCLUDE": "drop/*", "BLOBFERRY_REBIND": "true"])
        #expect(rebound.status == 0, "\(rebound.output)")
        #expect(try await harness.redis("HGET", harness.keys.meta, "filter_include").string == "drop/*")
    }

    /// A blob copied by an earlier pass and overwritten past the `modified_before` bound is
    /// left out by the next pass, but it exists: it must not be reported deleted in Azure
    /// (where `delete-removed --apply` would delete its object).
    @Test func aBlobTheFilterNowLeavesOutIsNotReportedDeleted() async throws {
        let harness = try await MigrationHarness(name: "filter-delta")
        _ = try await harness.seed(["d/a", "d/b", "d/c"])
        // Last-Modified has whole seconds: the bound is two seconds after the seeding.
        let bound = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + 2).rounded(.up))
        let environment = ["BLOBFERRY_MODIFIED_BEFORE": bound.formatted(.iso8601)]
        #expect(try await harness.run("blobferry-producer", label: "pass-1", environment: environment).status == 0)
        #expect(try await harness.run("blobferry-consumer", label: "consumer").status == 0)
        #expect(try await harness.status().copied == 3)
        while Date() < bound.addingTimeInterval(1) { try await Task.sleep(nanoseconds: 100_000_000) }
        try await harness.azure.putBlockBlob("d/b", body: Array("written again".utf8))
        let second = try await harness.run("blobferry-producer", label: "pass-2", environment: environment)
        #expect(second.status == 0, "\(second.output)")
        #expect(second.output.contains("left out by the filter 1"), "\(second.output)")
        #expect(try await harness.status().deletedInSource == 0)
    }
}
