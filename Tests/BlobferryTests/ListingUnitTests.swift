import Testing

@testable import Blobferry

/// Listing units without services: the gaps the catch-all lists, and how a unit splits.
struct ListingUnitTests {
    @Test func theCatchAllListsOnlyTheGapsBetweenOneCharPrefixes() throws {
        let scheme = try PartitionScheme(parsing: "one-char")
        let gaps = try #require(scheme.gaps)
        #expect(gaps.map(\.lower) == ["", ":", "[", "{"])
        #expect(gaps.map(\.upper) == ["0", "A", "a", nil])
        let units = scheme.rootUnits(byRanges: true)
        #expect(units.count == 62 + 4)
        // Every name belongs to exactly one unit, and it is the unit of its partition.
        let names = [
            "!x", "-a", " ", "/", "0", "09", "9", "9~", ":", ":c", "@", "A", "Z~", "[", "_u", "`", "a", "z", "z~", "{",
            "|", "~", "\u{7F}", "é", "日本", "😀", "\u{E000}",
        ]
        for name in names {
            let owners = units.filter { $0.contains(name) }
            #expect(owners.count == 1, "\(name): \(owners.map(\.id))")
            #expect(owners.first?.partition == scheme.partition(of: name), "\(name)")
        }
        #expect(units.first { $0.id == "_other,1" }?.startFrom == ":")
        #expect(units.first { $0.id == "_other,0" }?.startFrom == nil)
    }

    @Test func nestedAndNonASCIIPrefixes() throws {
        let nested = try PartitionScheme(parsing: "img/, img/2024/, logs/")
        #expect(try #require(nested.gaps).map(\.lower) == ["", "img0", "logs0"])
        // A prefix above U+D800 may sort differently in Azure: the catch-all sweeps.
        let astral = try PartitionScheme(parsing: "a, 😀")
        #expect(astral.gaps == nil)
        #expect(astral.rootUnits(byRanges: true).map(\.id) == ["a", "😀", "_other"])
    }

    @Test func aSplitCoversTheRestOfTheRangeExactlyOnceWithSafeBounds() throws {
        let unit = ListingUnit(id: "u", partition: "u", prefix: "u")
        let page = (0..<50).map { "uploads/!\(String(format: "%04d", $0))" }
        let (parent, children) = try #require(unit.split(after: page, pieces: 8))
        #expect(parent.upper == "uploads/!005")
        #expect(parent.splits == 1 && children.count >= 8)
        #expect(children.allSatisfy { $0.depth == 1 && $0.id.hasPrefix("u,0.") })
        // Contiguous: each child starts where the previous range ends; the last has no end.
        var end = parent.upper
        for child in children {
            #expect(child.lower == end)
            #expect(ListingUnit.isOrderSafe(child.lower))
            #expect(child.lower.hasPrefix(child.prefix) && child.prefix.hasPrefix("u"))
            end = child.upper
        }
        #expect(end == nil)
        let rest = [
            "uploads/!0049x", "uploads/!0050", "uploads/!0100", "uploads/!9999", "uploads/\"", "uploads/#1",
            "uploads/0", "uploads/Mx", "uploads/zz", "uploads/~", "uploads/é",
            "uploads/😀", "uploadsX", "uq", "u~",
        ]
        for name in rest {
            let owners = ([parent] + children).filter { $0.contains(name) }
            #expect(owners.count == 1, "\(name): \(owners.map(\.id))")
        }
        // Sequential names split by decades too, so a chain of splits stays short.
        let sequential = (0..<50).map { "k\(String(format: "%06d", $0))" }
        let (_, decades) = try #require(
            ListingUnit(id: "k", partition: "k", prefix: "k").split(after: sequential, pieces: 2))
        #expect(decades.map(\.lower).contains("k0001"))
        #expect(decades.map(\.lower).contains("k001"))
        #expect(decades.map(\.lower).contains("k1"))
    }

    @Test func noSplitWithoutASafePoint() {
        let unit = ListingUnit(id: "u", partition: "u", prefix: "u", upper: "uploads/!0000y")
        #expect(unit.split(after: ["uploads/!0000", "uploads/!0000x"], pieces: 4) == nil)
        #expect(unit.split(after: ["uploads/!0000"], pieces: 4) == nil)
    }
}
