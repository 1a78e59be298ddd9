import BlobferryRedis
import BlobferryTestSupport
import Foundation
import Testing

@testable import Blobferry

/// The producer's listing units against the Azure emulator and a real Redis: every name
/// lands in a queue exactly once across partitions, gaps and sub-ranges, with startFrom or
/// without it (the fallback sweep), and after a producer dies right after a split.
@Suite(.serialized)
struct ListingTests {
    /// Names at every edge of the one-char scheme's ranges: before '0', between '9' and
    /// 'A', between 'Z' and 'a', after 'z', exactly a prefix or a gap's bound, non-ASCII.
    static let edgeNames = [
        "!x", "-a", " lead", ".hidden", "/root", "0", "09", "9", "9~", ":", ":c", "@at", "A", "Apple", "Z", "Z~", "[",
        "[b", "\\back", "_u", "`tick", "a", "a/b", "z", "z~", "{", "{c", "|pipe", "~", "~t", "\u{7F}del", "é", "été",
        "日本", "日本/x", "😀", "\u{E000}pua", "\u{FFFD}",
    ]

    /// `count` names under `uploads/`, spread like random ids.
    static func skewed(_ count: Int) -> [String] {
        let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_.")
        return (0..<count).map { index in
            var value = UInt64(index + 1) &* 0x9E37_79B9_7F4A_7C15
            var id = ""
            for _ in 0..<8 {
                id.append(alphabet[Int(value % UInt64(alphabet.count))])
                value /= UInt64(alphabet.count)
            }
            return "uploads/\(id)/\(index).bin"
        }
    }

    /// Every key in every queue of the job (duplicates kept).
    static func queued(_ harness: MigrationHarness, scheme: String = "one-char") async throws -> [String] {
        var all: [String] = []
        for partition in try PartitionScheme(parsing: scheme).partitions {
            let reply = try await harness.redis("LRANGE", harness.keys.queue(partition), "0", "-1")
            all += try reply.decodeStrings("LRANGE")
        }
        return all.sorted()
    }

    static func units(_ harness: MigrationHarness) async throws -> [String] {
        try await harness.redis("HKEYS", harness.keys.units).decodeStrings("HKEYS units").sorted()
    }

    static func listRequests(_ emulator: AzureEmulatorProcess) throws -> Int {
        ((try emulator.stats()["by_operation"] as? [String: Any])?["ListBlobs"] as? Int) ?? -1
    }

    @Test func everyNameIsListedOnceAcrossPartitionsGapsAndSubRanges() async throws {
        let emulator = try AzureEmulatorProcess(maxPage: 4)
        let harness = try await MigrationHarness(name: "units", emulator: emulator)
        let names = Self.edgeNames + Self.skewed(120) + (0..<30).map { "A\($0)" } + (0..<30).map { "~\($0)" }
        _ = try await harness.seed(names, size: { _ in 1 })
        let producer = try await harness.run(
            "blobferry-producer", label: "producer", environment: ["BLOBFERRY_LISTERS": "8"])
        #expect(producer.status == 0, "\(producer.output)")
        #expect(try await Self.queued(harness) == names.sorted())
        let units = try await Self.units(harness)
        #expect(["_other,0", "_other,1", "_other,2", "_other,3"].allSatisfy(units.contains))
        #expect(!units.contains("_other"))
        #expect(units.contains { $0.hasPrefix("u,") }, "the uploads/ range split: \(units)")
        let status = try await harness.status()
        #expect(status.listed == names.count && status.producer == .listed)
        #expect(status.partitions.allSatisfy { $0.listingComplete })
        #expect(!producer.output.contains("startFrom"), "\(producer.output)")
    }

    @Test func aSkewedContainerSplitsAndListsEverythingOnce() async throws {
        let emulator = try AzureEmulatorProcess(maxPage: 20)
        let harness = try await MigrationHarness(name: "skewed", emulator: emulator)
        let names = Self.skewed(600)
        _ = try await harness.seed(names, size: { _ in 1 })
        try emulator.resetStats()
        let producer = try await harness.run(
            "blobferry-producer", label: "producer", environment: ["BLOBFERRY_PARTITIONS": "u, x"])
        #expect(producer.status == 0, "\(producer.output)")
        #expect(try await Self.queued(harness, scheme: "u, x") == names.sorted())
        let units = try await Self.units(harness)
        #expect(units.count > 8, "\(units)")
        // Pages of a unit are full but its last: at most one more request per unit (and
        // the two requests that check startFrom), over the 30 a single sweep takes.
        let requests = try Self.listRequests(emulator)
        #expect(requests <= 36 + units.count + 2, "\(requests) list requests for \(units.count) units")
    }

    @Test(arguments: ["reject", "ignore"])
    func aServiceWithoutStartFromFallsBackToTheSweepWithOneWarning(_ mode: String) async throws {
        let emulator = try AzureEmulatorProcess(maxPage: 4, startFrom: mode)
        let harness = try await MigrationHarness(name: "fallback-\(mode)", emulator: emulator)
        let names = Self.edgeNames + Self.skewed(40)
        _ = try await harness.seed(names, size: { _ in 1 })
        let producer = try await harness.run("blobferry-producer", label: "producer")
        #expect(producer.status == 0, "\(producer.output)")
        let warnings = producer.output.split(separator: "\n").filter { $0.contains("startFrom") }
        #expect(warnings.count == 1, "\(producer.output)")
        #expect(warnings.first?.contains(mode == "reject" ? "rejects" : "ignores") == true)
        #expect(try await Self.queued(harness) == names.sorted())
        let units = try await Self.units(harness)
        #expect(units.count == 63 && units.contains("_other"))
    }

    @Test func aProducerKilledRightAfterASplitResumesWithoutGapOrDuplicate() async throws {
        let emulator = try AzureEmulatorProcess(maxPage: 10)
        let harness = try await MigrationHarness(name: "mid-split", emulator: emulator)
        let names = Self.skewed(300) + ["a", "t~", "v", "~"]
        _ = try await harness.seed(names, size: { _ in 1 })
        let environment = ["BLOBFERRY_PARTITIONS": "u"]
        let killed = try await harness.run(
            "blobferry-producer", label: "killed",
            environment: environment.merging(["BLOBFERRY_TEST_EXIT_AFTER_SPLIT": "1"]) { $1 })
        #expect(killed.status == 86, "\(killed.output)")
        let recorded = try await Self.units(harness)
        #expect(recorded.count > 3, "the split is recorded: \(recorded)")
        // The unit that split has not moved its cursor past the page that decided it.
        let cursor = try await harness.redis("GET", harness.keys.cursor("u")).decodeOptionalString("GET")
        #expect(cursor == nil)
        let resumed = try await harness.run("blobferry-producer", label: "resumed", environment: environment)
        #expect(resumed.status == 0, "\(resumed.output)")
        #expect(resumed.output.contains("resuming listing pass 1"))
        #expect(try await Self.queued(harness, scheme: "u") == names.sorted())
        #expect(try await harness.status().listed == names.count)
    }
}
