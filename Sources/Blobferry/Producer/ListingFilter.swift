import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Which listed blobs a job migrates: name patterns to include and exclude, and a window
/// of Last-Modified times. Applied by the producer to every listed page, before anything
/// reaches Redis, so a filtered-out blob is never queued, copied or counted as done.
///
/// Why at listing and not in the consumer: a consumer only sees names; the producer has
/// each blob's Last-Modified from List Blobs at no extra request. Patterns are `fnmatch`
/// globs (libc's, without `FNM_PATHNAME`: `*` also matches `/`), so `logs/*` takes
/// everything under `logs/`. The filter is recorded in the job's `meta`; a later pass with
/// another filter is refused unless `rebind` is set, because blobs a new filter leaves out
/// would look deleted in Azure to the delta pass.
public struct ListingFilter: Sendable, Equatable {
    /// Any of these must match (empty: every name).
    public var include: [String] = []
    /// None of these may match.
    public var exclude: [String] = []
    /// Last-Modified at or after this...
    public var modifiedAfter: Date?
    /// ...and before this.
    public var modifiedBefore: Date?

    public init(
        include: [String] = [], exclude: [String] = [], modifiedAfter: Date? = nil, modifiedBefore: Date? = nil
    ) {
        self.include = include
        self.exclude = exclude
        self.modifiedAfter = modifiedAfter
        self.modifiedBefore = modifiedBefore
    }

    /// The filter of `source.include`, `source.exclude`, `source.modified_after` and
    /// `source.modified_before` (validated by `SettingsValidation`).
    public init(settings: SourceSettings) {
        self.init(
            include: Self.patterns(settings.include), exclude: Self.patterns(settings.exclude),
            modifiedAfter: Self.date(settings.modifiedAfter), modifiedBefore: Self.date(settings.modifiedBefore))
    }

    public var isEmpty: Bool { self == ListingFilter() }

    /// Whether the job migrates `blob`. A blob without a Last-Modified passes the date
    /// window: copying it is safe, leaving it out silently is not.
    public func admits(_ blob: BlobItem) -> Bool {
        if !include.isEmpty && !include.contains(where: { Self.matches($0, blob.name) }) { return false }
        if exclude.contains(where: { Self.matches($0, blob.name) }) { return false }
        guard let modified = blob.lastModified else { return true }
        if let modifiedAfter, modified < modifiedAfter { return false }
        if let modifiedBefore, modified >= modifiedBefore { return false }
        return true
    }

    /// How `meta` records the filter (empty values for what is not set).
    public var metaFields: [(String, String)] {
        [
            ("filter_include", include.joined(separator: ",")), ("filter_exclude", exclude.joined(separator: ",")),
            ("filter_modified_after", modifiedAfter.map(Self.format) ?? ""),
            ("filter_modified_before", modifiedBefore.map(Self.format) ?? ""),
        ]
    }

    static func patterns(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// An ISO 8601 time (`2026-01-31T00:00:00Z`) or day (`2026-01-31`, midnight UTC).
    static func date(_ text: String) -> Date? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty { return nil }
        if let time = try? Date(trimmed, strategy: .iso8601) { return time }
        return try? Date(trimmed + "T00:00:00Z", strategy: .iso8601)
    }

    private static func format(_ date: Date) -> String { date.formatted(.iso8601) }

    private static func matches(_ pattern: String, _ name: String) -> Bool {
        fnmatch(pattern, name, 0) == 0
    }
}
