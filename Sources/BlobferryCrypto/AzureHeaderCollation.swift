/// The order in which Azure Storage expects x-ms-* headers in a Shared Key string-to-sign.
///
/// The service does not sort names by plain byte order: it uses a culture-style two-level
/// comparison in which "-" and "'" are ignored at first and only break ties, and letters
/// compare case-insensitively after digits and a few punctuation marks. azure-storage-blob
/// emulates it with weight tables for ASCII; this is the same ordering, so a name like
/// "x-ms-meta-a-c" sorts after "x-ms-meta-ab" exactly as the SDK (and the service) sort it.
enum AzureHeaderCollation {
    /// True when `lhs` sorts before `rhs`.
    static func precedes(_ lhs: String, _ rhs: String) -> Bool {
        compare(Array(lhs.utf8), Array(rhs.utf8)) < 0
    }

    /// Sentinel weight for "past the end": lower than every real weight, higher than "ignorable".
    private static let end = 1

    /// Punctuation with a first-level weight, lowest first; all sort before digits and letters.
    private static let rankedPunctuation: [UInt8] = Array("!#$%&*.^_`|~+".utf8)

    /// First level: 0 ignores the byte; otherwise punctuation < digits < letters (any case).
    private static func primaryWeight(_ byte: UInt8) -> Int {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return 100 + Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return 200 + Int(byte - UInt8(ascii: "a"))
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return 200 + Int(byte - UInt8(ascii: "A"))
        default:
            if let rank = rankedPunctuation.firstIndex(of: byte) { return 10 + rank }
            return 0
        }
    }

    /// Second level: only the apostrophe and the hyphen count.
    private static func secondaryWeight(_ byte: UInt8) -> Int {
        switch byte {
        case UInt8(ascii: "'"): return 10
        case UInt8(ascii: "-"): return 11
        default: return 0
        }
    }

    /// -1, 0 or 1.
    static func compare(_ lhs: [UInt8], _ rhs: [UInt8]) -> Int {
        let levels: [(UInt8) -> Int] = [primaryWeight, secondaryWeight]
        for (level, weight) in levels.enumerated() {
            let isLast = level == levels.count - 1
            var i = 0
            var j = 0
            while true {
                // On the last level, the first ignorable byte skipped on one side only decides.
                if isLast && i != j { return i > j ? -1 : 1 }
                let left = i < lhs.count ? weight(lhs[i]) : end
                let right = j < rhs.count ? weight(rhs[j]) : end
                if left == end && right == end { break }
                if left == right {
                    i += 1
                    j += 1
                } else if left == 0 {
                    i += 1
                } else if right == 0 {
                    j += 1
                } else {
                    return left < right ? -1 : 1
                }
            }
        }
        return 0
    }
}
