/// Decoding that throws: a reply of the wrong shape is a bug or a foreign writer, and must
/// surface as an error rather than read as "zero" or "no work" (which would end a job
/// early or hide lost keys). Every caller names what it asked for, so the message says
/// which command got the surprise; the reply's content is left out (it may hold keys).
extension RedisReply {
    /// An integer, or a bulk/status reply holding a decimal integer.
    public func decodeInt(_ what: @autoclosure () -> String) throws -> Int {
        guard let value = int else { throw unexpected(what(), expected: "an integer") }
        return value
    }

    /// A bulk or status string.
    public func decodeString(_ what: @autoclosure () -> String) throws -> String {
        guard let value = string else { throw unexpected(what(), expected: "a string") }
        return value
    }

    /// A bulk string, or nil for the null reply (a missing key or field).
    public func decodeOptionalString(_ what: @autoclosure () -> String) throws -> String? {
        if isNull { return nil }
        return try decodeString(what())
    }

    /// An array of any elements.
    public func decodeArray(_ what: @autoclosure () -> String) throws -> [RedisReply] {
        guard let elements = array else { throw unexpected(what(), expected: "an array") }
        return elements
    }

    /// An array whose elements are all strings (SMEMBERS, ZRANGE, LRANGE...).
    public func decodeStrings(_ what: @autoclosure () -> String) throws -> [String] {
        let description = what()
        return try decodeArray(description).map { try $0.decodeString(description) }
    }

    /// An array of integers (SMISMEMBER, a script's counters).
    public func decodeInts(_ what: @autoclosure () -> String) throws -> [Int] {
        let description = what()
        return try decodeArray(description).map { try $0.decodeInt(description) }
    }

    /// A flat array of field/value pairs (HGETALL, HSCAN's page), in reply order.
    public func decodePairs(_ what: @autoclosure () -> String) throws -> [(String, String)] {
        let description = what()
        let items = try decodeStrings(description)
        guard items.count % 2 == 0 else { throw unexpected(description, expected: "an even number of elements") }
        return stride(from: 0, to: items.count, by: 2).map { (items[$0], items[$0 + 1]) }
    }

    /// A flat array of field/value pairs as a dictionary (HGETALL).
    public func decodeHash(_ what: @autoclosure () -> String) throws -> [String: String] {
        Dictionary(try decodePairs(what()), uniquingKeysWith: { _, last in last })
    }

    private func unexpected(_ what: String, expected: String) -> RedisError {
        let shape: String
        switch self {
        case .status: shape = "a status"
        case .error(let message): return RedisError(.serverError, message)
        case .integer: shape = "an integer"
        case .bulk: shape = "a string"
        case .null: shape = "null"
        case .array(let elements): shape = "an array of \(elements.count)"
        }
        return RedisError(.protocolError, "\(what): expected \(expected), got \(shape)")
    }
}
