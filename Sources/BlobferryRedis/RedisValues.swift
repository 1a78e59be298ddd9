/// One argument of a Redis command, kept as raw bytes so that keys and values with NUL,
/// newlines, spaces or any Unicode travel unchanged (hiredis gets explicit lengths).
public struct RedisArgument: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    public var bytes: [UInt8]

    /// The UTF-8 bytes of `text`.
    public init(_ text: String) { self.bytes = Array(text.utf8) }

    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// The decimal form of `number`, as Redis expects for counts, TTLs and indexes.
    public init(_ number: Int) { self.bytes = Array(String(number).utf8) }

    public init(stringLiteral value: String) { self.init(value) }

    public init(integerLiteral value: Int) { self.init(value) }
}

/// A RESP2 reply turned into a Swift value (hiredis's reply object is freed as soon as it
/// is converted), so callers never touch C memory.
public enum RedisReply: Sendable, Equatable {
    case status(String)
    case error(String)
    case integer(Int)
    case bulk([UInt8])
    case null
    case array([RedisReply])

    /// A bulk string decoded as UTF-8 (invalid sequences become U+FFFD, never a crash), or a
    /// status reply's text.
    public var string: String? {
        switch self {
        case .bulk(let bytes): return String(decoding: bytes, as: UTF8.self)
        case .status(let text): return text
        default: return nil
        }
    }

    /// An integer reply, or a bulk/status reply whose text is a decimal integer.
    public var int: Int? {
        switch self {
        case .integer(let value): return value
        case .bulk, .status: return string.flatMap { Int($0) }
        default: return nil
        }
    }

    /// The elements of an array reply.
    public var array: [RedisReply]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    /// The raw bytes of a bulk string, or the UTF-8 bytes of a status reply.
    public var bytes: [UInt8]? {
        switch self {
        case .bulk(let bytes): return bytes
        case .status(let text): return Array(text.utf8)
        default: return nil
        }
    }

    /// Whether this is the null bulk string or null array (a missing key, a BLPOP timeout).
    public var isNull: Bool { self == .null }

    /// The text of an error reply.
    public var errorMessage: String? {
        if case .error(let message) = self { return message }
        return nil
    }
}

/// A Lua script used through EVALSHA, so only its SHA1 crosses the network on each call.
///
/// The SHA1 is learned from `SCRIPT LOAD` once per connection and cached there (the Redis
/// module does not depend on a crypto library); when the server answers NOSCRIPT (restart,
/// failover, SCRIPT FLUSH) the connection loads the script again and retries once.
public struct RedisScript: Sendable, Hashable {
    public let source: String

    public init(_ source: String) { self.source = source }
}
