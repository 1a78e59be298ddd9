import Foundation

/// How `report` and `verify --report` write their records.
public enum RecordFormat: String, Sendable, CaseIterable {
    /// A header line, then one row per record (RFC 4180 quoting): for spreadsheets.
    case csv
    /// One JSON object per line (JSON lines): any name survives, and `jq` reads it.
    case json
}

/// One field of a record.
public enum RecordValue: Sendable, Equatable {
    case text(String)
    case integer(Int)
    case decimal(Double)

    var csv: String {
        switch self {
        case .text(let text): return RecordWriter.quoted(text)
        case .integer(let value): return String(value)
        case .decimal(let value): return String(value)
        }
    }

    var json: Any {
        switch self {
        case .text(let text): return text
        case .integer(let value): return value
        case .decimal(let value): return value
        }
    }
}

/// Writes records (named fields, a fixed set of columns) as CSV or JSON lines, one line at
/// a time to `output`, so a report of millions of keys never holds more than one record.
/// Shared by `blobferry report` and `blobferry verify --report`, so both files read alike.
public struct RecordWriter: Sendable {
    public let format: RecordFormat
    public let columns: [String]

    public init(format: RecordFormat, columns: [String]) {
        self.format = format
        self.columns = columns
    }

    /// The CSV header line (nil for JSON lines, which name every field).
    public var header: String? {
        format == .csv ? columns.map(Self.quoted).joined(separator: ",") : nil
    }

    /// One record as a line (no newline). Fields not in `columns` are a programming error
    /// and are dropped; absent ones are empty cells in CSV and left out in JSON.
    public func line(_ fields: [(String, RecordValue)]) -> String {
        switch format {
        case .csv:
            let byName = Dictionary(fields, uniquingKeysWith: { _, last in last })
            return columns.map { byName[$0]?.csv ?? "" }.joined(separator: ",")
        case .json:
            var object: [String: Any] = [:]
            for (name, value) in fields where columns.contains(name) { object[name] = value.json }
            guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else {
                return "{}"
            }
            return String(decoding: data, as: UTF8.self)
        }
    }

    /// A CSV cell: quoted when it holds a comma, quote, CR or LF (quotes doubled).
    static func quoted(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
