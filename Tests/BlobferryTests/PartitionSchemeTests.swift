import Testing

@testable import Blobferry

struct PartitionSchemeTests {
    @Test func oneCharSchemeCoversAlphanumericsAndSendsTheRestToTheCatchAll() throws {
        let scheme = try PartitionScheme(parsing: "one-char")
        #expect(scheme.partitions.count == 63)
        #expect(scheme.partition(of: "Apple") == "A")
        #expect(scheme.partition(of: "zebra") == "z")
        #expect(scheme.partition(of: "9lives") == "9")
        for odd in ["_x", "-x", ".x", " x", "~x", "éclair", "😀", "", "/leading"] {
            #expect(scheme.partition(of: odd) == PartitionScheme.catchAll, "\(odd)")
        }
        // A decomposed é starts with the byte "e": it belongs to "e", consistently.
        #expect(scheme.partition(of: "e\u{301}clair") == "e")
    }

    @Test func twoCharSchemeUsesPairsAndShortKeysGoToTheCatchAll() throws {
        let scheme = try PartitionScheme(parsing: "two-char")
        #expect(scheme.partitions.count == 62 * 62 + 1)
        #expect(scheme.partition(of: "ab/c") == "ab")
        #expect(scheme.partition(of: "a") == PartitionScheme.catchAll)
        #expect(scheme.partition(of: "a-") == PartitionScheme.catchAll)
    }

    @Test func explicitListPrefersTheLongestPrefix() throws {
        let scheme = try PartitionScheme(parsing: "img/, img/2024/, logs/")
        #expect(scheme.prefixes == ["img/", "img/2024/", "logs/"])
        #expect(scheme.partition(of: "img/2024/x.jpg") == "img/2024/")
        #expect(scheme.partition(of: "img/2023/x.jpg") == "img/")
        #expect(scheme.partition(of: "other") == PartitionScheme.catchAll)
        #expect(scheme.listingPrefix(of: PartitionScheme.catchAll) == "")
    }

    @Test func everyKeyHasExactlyOneListerThatKeepsIt() throws {
        // Each lister keeps the keys whose partition is its own; the catch-all sees them all.
        let scheme = try PartitionScheme(parsing: "a, ab, b")
        let keys = ["a", "ab", "abc", "b", "ba", "c", "", "ä"]
        for key in keys {
            let keepers = scheme.partitions.filter { partition in
                key.hasPrefix(scheme.listingPrefix(of: partition)) && scheme.partition(of: key) == partition
            }
            #expect(keepers.count == 1, "\(key): \(keepers)")
        }
    }

    @Test func badListsAreRejected() {
        #expect(throws: BlobferryError.self) { try PartitionScheme(parsing: " , ") }
        #expect(throws: BlobferryError.self) { try PartitionScheme(parsing: "a,_other") }
    }
}
