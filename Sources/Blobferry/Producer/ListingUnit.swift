import Foundation

/// One piece of listing work with its own resumable cursor: the names that start with
/// `prefix`, are at or after `lower` and before `upper`, kept for storage partition
/// `partition`. A partition's prefix, a gap between prefixes (names of the catch-all)
/// and a sub-range split off a large unit are all units.
///
/// Why ranges and not only prefixes: a prefix lister sees only its prefix, so before
/// ranges the catch-all had to sweep the whole container, and all names under one common
/// prefix (`uploads/...`) landed on one lister. A range starts where List Blobs'
/// `startFrom` puts it and ends where its lister stops asking (XML has no `endBefore`).
///
/// Order: bounds compare by UTF-8 bytes, which is code point order. Azure may order
/// non-ASCII names otherwise (UTF-16 code units put U+E000...U+FFFF after the astral
/// planes); both orders agree on how any name compares with a bound made only of code
/// points below U+D800, so every bound this type makes is such a string, and a unit
/// keeps only the names in its own range whatever order they come in.
public struct ListingUnit: Sendable, Equatable, Codable {
    /// A partition's root unit is named after the partition; others are `<parent>,<n>.<i>`
    /// (a comma cannot appear in a partition name, so ids never collide).
    public var id: String
    /// The storage partition (queue and done set) its names go to.
    public var partition: String
    /// The `prefix` of its List Blobs requests; every name of the range starts with it.
    public var prefix: String
    /// Inclusive lower bound ("" = none): sent as `startFrom` when it is above `prefix`.
    public var lower: String
    /// Exclusive upper bound (nil = none: the prefix's end).
    public var upper: String?
    /// Splits above it (0 for a root): bounds how far one range is divided.
    public var depth: Int
    /// How many times it has split, so its children's ids stay unique.
    public var splits: Int

    public init(
        id: String, partition: String, prefix: String, lower: String = "", upper: String? = nil, depth: Int = 0,
        splits: Int = 0
    ) {
        self.id = id
        self.partition = partition
        self.prefix = prefix
        self.lower = lower
        self.upper = upper
        self.depth = depth
        self.splits = splits
    }

    /// The `startFrom` its requests carry (nil when the prefix alone is where it starts).
    public var startFrom: String? {
        Self.precedes(prefix, lower) ? lower : nil
    }

    /// Whether `name` is at or past the upper bound (the unit has nothing more to list).
    public func isPast(_ name: String) -> Bool {
        guard let upper else { return false }
        return !Self.precedes(name, upper)
    }

    /// Whether `name` belongs to this unit's range.
    public func contains(_ name: String) -> Bool {
        name.hasPrefix(prefix) && !Self.precedes(name, lower) && !isPast(name)
    }

    // MARK: - Splitting

    /// Splits the rest of the range after a full page whose names (in range) are `names`
    /// into sub-ranges: the parent keeps from where it is to the first split point, each
    /// child lists one sub-range. Nil when the page gives no safe split point.
    ///
    /// Split points come from the page's last name and the common prefix of its names
    /// (say `uploads/`): the next character's space after it is cut into `pieces` ranges
    /// at characters of `alphabet`; then, going up one character at a time towards the
    /// unit's prefix, the rest of each shorter prefix's space is one more range. So a
    /// container of `uploads/<anything>` spreads over `pieces` listers at once, and
    /// sequential names (`uploads/000001`...) split by decades, each of which can split
    /// again when its own page is full.
    public func split(after names: [String], pieces: Int) -> (parent: ListingUnit, children: [ListingUnit])? {
        guard names.count >= 2,
            let first = names.min(by: Self.precedes), let last = names.max(by: Self.precedes)
        else { return nil }
        let lastScalars = Array(last.unicodeScalars)
        var common = Self.commonPrefix(first, last).unicodeScalars.prefix { $0.value < 0xD800 }.count
        common = min(common, lastScalars.count - 1)
        let prefixLength = prefix.unicodeScalars.count
        guard common >= prefixLength else { return nil }
        var points: [String] = []
        for depth in stride(from: common, through: prefixLength, by: -1) {
            let base = String(String.UnicodeScalarView(lastScalars[0..<depth]))
            guard let next = Self.nextScalar(lastScalars[depth]), next.value < 0xD800 else { continue }
            points.append(base + String(Character(next)))
            if depth == common {
                let candidates = Self.alphabet.filter { $0.value > next.value }
                let extra = min(max(pieces, 2), 64) - 1
                for index in 1..<(extra + 1) where !candidates.isEmpty {
                    let scalar = candidates[min(candidates.count - 1, index * candidates.count / (extra + 1))]
                    points.append(base + String(Character(scalar)))
                }
            }
        }
        var seen = Set<String>()
        points = points.filter { Self.precedes(last, $0) && !isPast($0) && seen.insert($0).inserted }
            .sorted(by: Self.precedes)
        guard let firstPoint = points.first else { return nil }
        var parent = self
        parent.upper = firstPoint
        parent.splits += 1
        let children = points.indices.map { index in
            let lower = points[index]
            let upper = index + 1 < points.count ? points[index + 1] : self.upper
            var childPrefix = prefix
            if let upper {
                let shared = Self.commonPrefix(lower, upper)
                if shared.utf8.count > childPrefix.utf8.count { childPrefix = shared }
            }
            return ListingUnit(
                id: "\(id),\(splits).\(index)", partition: partition, prefix: childPrefix, lower: lower, upper: upper,
                depth: depth + 1)
        }
        return (parent, children)
    }

    /// Where split points may fall, in order: what names are mostly made of.
    static let alphabet: [Unicode.Scalar] = Array(
        "!-.0123456789@ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~".unicodeScalars)

    // MARK: - Byte order

    /// UTF-8 byte order (the same as code point order).
    public static func precedes(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    /// The longest common prefix of two strings, whole code points.
    static func commonPrefix(_ a: String, _ b: String) -> String {
        var scalars = String.UnicodeScalarView()
        for (x, y) in zip(a.unicodeScalars, b.unicodeScalars) {
            guard x == y else { break }
            scalars.append(x)
        }
        return String(scalars)
    }

    /// The next code point (surrogates skipped); nil after the last one.
    static func nextScalar(_ scalar: Unicode.Scalar) -> Unicode.Scalar? {
        var value = scalar.value + 1
        if (0xD800...0xDFFF).contains(value) { value = 0xE000 }
        return Unicode.Scalar(value)
    }

    /// The smallest string above every string that starts with `prefix` (nil: none).
    static func successor(of prefix: String) -> String? {
        var scalars = Array(prefix.unicodeScalars)
        while let last = scalars.popLast() {
            if let next = nextScalar(last) {
                return String(String.UnicodeScalarView(scalars + [next]))
            }
        }
        return nil
    }

    /// Whether every code point is below U+D800, where UTF-8 and UTF-16 orders agree.
    static func isOrderSafe(_ bound: String) -> Bool {
        bound.unicodeScalars.allSatisfy { $0.value < 0xD800 }
    }
}

extension PartitionScheme {
    /// The key ranges no prefix covers, in byte order (`upper` nil: to the end): the
    /// catch-all lists only these. Nil when a prefix holds a code point at or above U+D800,
    /// where Azure's order may differ from byte order; the catch-all sweeps then.
    public var gaps: [(lower: String, upper: String?)]? {
        guard prefixes.allSatisfy(ListingUnit.isOrderSafe) else { return nil }
        var gaps: [(lower: String, upper: String?)] = []
        var cursor: String? = ""
        for prefix in prefixes {
            guard let from = cursor else { break }
            if ListingUnit.precedes(prefix, from) { continue }  // inside the previous prefix's range
            if ListingUnit.precedes(from, prefix) { gaps.append((from, prefix)) }
            cursor = ListingUnit.successor(of: prefix)
        }
        if let from = cursor { gaps.append((from, nil)) }
        return gaps
    }

    /// The listing units a pass starts with: one per prefix, and either one per gap
    /// (`byRanges`, the service takes `startFrom`) or one catch-all that sweeps everything.
    public func rootUnits(byRanges: Bool) -> [ListingUnit] {
        var units = prefixes.map { ListingUnit(id: $0, partition: $0, prefix: $0) }
        if byRanges, let gaps {
            units += gaps.enumerated().map { index, gap in
                ListingUnit(
                    id: "\(Self.catchAll),\(index)", partition: Self.catchAll,
                    prefix: gap.upper.map { ListingUnit.commonPrefix(gap.lower, $0) } ?? "", lower: gap.lower,
                    upper: gap.upper)
            }
        } else {
            units.append(ListingUnit(id: Self.catchAll, partition: Self.catchAll, prefix: ""))
        }
        return units
    }
}
