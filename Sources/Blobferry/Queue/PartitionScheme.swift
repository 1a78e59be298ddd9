/// Splits the key space so that listing and queues scale out: each prefix gets its own
/// lister, queue and done set, and one catch-all partition takes every key no prefix
/// claims (a first character outside A-Z a-z 0-9, a key shorter than the prefixes...).
///
/// A key's partition is a pure function of the key: the longest configured prefix its
/// UTF-8 bytes start with, else the catch-all. Every lister keeps only the keys whose
/// partition is its own, so overlapping prefixes and odd names can neither duplicate nor
/// drop a key.
public struct PartitionScheme: Sendable, Equatable {
    /// The partition of keys that match no prefix; its lister sweeps the whole container.
    public static let catchAll = "_other"

    /// The configured prefixes, sorted by their UTF-8 bytes.
    public let prefixes: [String]
    private let prefixBytes: Set<[UInt8]>
    private let longestPrefix: Int

    /// `one-char`, `two-char`, or a comma-separated list of prefixes.
    public let specification: String

    public init(parsing specification: String) throws {
        let trimmed = specification.trimmingSpaces
        var prefixes: [String]
        switch trimmed {
        case "", "one-char":
            prefixes = Self.alphanumerics.map { String($0) }
        case "two-char":
            prefixes = Self.alphanumerics.flatMap { first in Self.alphanumerics.map { String([first, $0]) } }
        default:
            prefixes = trimmed.split(separator: ",").map { String($0).trimmingSpaces }.filter { !$0.isEmpty }
            guard !prefixes.isEmpty else {
                throw BlobferryError(.configuration, "partitions: '\(specification)' names no prefix")
            }
            if prefixes.contains(Self.catchAll) {
                throw BlobferryError(.configuration, "partitions: '\(Self.catchAll)' is reserved for the catch-all")
            }
        }
        let unique = Array(Set(prefixes)).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        self.prefixes = unique
        self.prefixBytes = Set(unique.map { Array($0.utf8) })
        self.longestPrefix = unique.map(\.utf8.count).max() ?? 0
        self.specification = trimmed.isEmpty ? "one-char" : trimmed
    }

    /// Every partition, the catch-all last.
    public var partitions: [String] { prefixes + [Self.catchAll] }

    /// The partition `key` belongs to.
    public func partition(of key: String) -> String {
        let bytes = Array(key.utf8.prefix(longestPrefix))
        var length = bytes.count
        while length > 0 {
            let candidate = Array(bytes[0..<length])
            if prefixBytes.contains(candidate) {
                return String(decoding: candidate, as: UTF8.self)
            }
            length -= 1
        }
        return Self.catchAll
    }

    /// The prefix a partition's lister asks Azure for (the catch-all lists everything).
    public func listingPrefix(of partition: String) -> String {
        partition == Self.catchAll ? "" : partition
    }

    private static let alphanumerics: [Character] = Array(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
}

extension String {
    var trimmingSpaces: String {
        var slice = Substring(self)
        while slice.first?.isWhitespace == true { slice = slice.dropFirst() }
        while slice.last?.isWhitespace == true { slice = slice.dropLast() }
        return String(slice)
    }
}
