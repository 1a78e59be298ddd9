import Foundation

/// Where and how to reach Redis, read from the one URL users configure
/// (`BLOBFERRY_REDIS_URL`), so every process of a job agrees on the server, user and database.
///
/// Accepted form: `redis://[[user]:password@]host[:port][/db]` with user and password
/// percent-encoded when they contain reserved characters (`@ : / ? # %`). `rediss://` (TLS)
/// is refused: Debian 12's hiredis 0.14 has no TLS, so run stunnel (or another TLS sidecar)
/// and point blobferry at its local plain-text port. The password never appears in errors,
/// in `redactedURL` or in `description`.
public struct RedisConfiguration: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public var host: String
    public var port: Int
    /// The ACL user for `AUTH user password`; nil means `AUTH password` (the default user).
    public var username: String?
    public var password: String?
    public var database: Int
    /// Limit for establishing a connection, including AUTH and SELECT.
    public var connectTimeout: TimeInterval = 5
    /// Limit for each read or write of a command's bytes; 0 means wait forever. Blocking
    /// commands (BLPOP ...) need a command timeout longer than their own.
    public var commandTimeout: TimeInterval = 30
    /// How long a connection keeps trying to reconnect (with backoff) before giving up with .connectionFailed.
    public var reconnectWindow: TimeInterval = 300

    /// A configuration from parts (tests, or callers that do not use a URL).
    public init(
        host: String = "127.0.0.1", port: Int = 6379, username: String? = nil, password: String? = nil,
        database: Int = 0
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
    }

    /// Parses `redis://[user:password@]host:port/db`; also `redis://:password@host`.
    /// Port defaults to 6379 and database to 0. Throws `RedisError(.invalidURL)` with a
    /// message that says what is wrong without repeating the URL (it may hold a password).
    public init(url: String) throws {
        let usage = "expected redis://[user:password@]host[:port][/db]"
        func invalid(_ reason: String) -> RedisError {
            RedisError(.invalidURL, "invalid Redis URL: \(reason) (\(usage))")
        }
        let trimmed = url.trimmingCharacters(in: .whitespacesAndNewlines)
        let lowered = trimmed.lowercased()
        if lowered.hasPrefix("rediss://") {
            throw RedisError(
                .invalidURL,
                "rediss:// (TLS) is not supported: this build's hiredis 0.14 has no TLS; run stunnel "
                    + "(or another TLS proxy) next to blobferry and use redis://127.0.0.1:<local port>")
        }
        guard lowered.hasPrefix("redis://") else {
            throw invalid("the scheme must be redis://")
        }
        var rest = Substring(trimmed.dropFirst("redis://".count))

        // Credentials end at the last "@": hosts and paths never contain one, so a password
        // with an unencoded "@", "/" or "#" still parses.
        var username: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            let user: Substring
            let secret: Substring?
            if let colon = userInfo.firstIndex(of: ":") {
                user = userInfo[..<colon]
                secret = userInfo[userInfo.index(after: colon)...]
            } else {
                user = userInfo
                secret = nil
            }
            guard let decodedUser = Self.percentDecode(user) else {
                throw invalid("the user name has a bad percent-escape")
            }
            if let secret {
                guard let decodedSecret = Self.percentDecode(secret) else {
                    throw invalid("the password has a bad percent-escape")
                }
                password = decodedSecret.isEmpty ? nil : decodedSecret
            }
            username = decodedUser.isEmpty ? nil : decodedUser
            if username != nil && password == nil {
                throw invalid("a user name needs a password (redis://user:password@host)")
            }
        }

        if rest.contains("?") || rest.contains("#") {
            throw invalid("query parameters and fragments are not supported")
        }
        let authority: Substring
        let path: Substring
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            path = rest[rest.index(after: slash)...]
        } else {
            authority = rest
            path = ""
        }

        var host: Substring
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw invalid("unclosed [ in the IPv6 host") }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw invalid("unexpected text after the IPv6 host") }
                portText = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            host = authority
        }
        guard !host.isEmpty else { throw invalid("the host is missing") }
        let bracketed = authority.hasPrefix("[")
        if host.contains(where: { $0.isWhitespace }) || (!bracketed && host.contains(":")) {
            throw invalid("the host has spaces or colons (write IPv6 addresses as [::1])")
        }

        var port = 6379
        if let portText {
            guard !portText.isEmpty, portText.allSatisfy({ $0.isASCII && $0.isNumber }),
                let number = Int(portText), (1...65535).contains(number)
            else { throw invalid("the port must be a number from 1 to 65535") }
            port = number
        }

        var database = 0
        if !path.isEmpty {
            guard path.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Int(path) else {
                throw invalid("the database must be a non-negative number")
            }
            database = number
        }

        self.init(host: String(host), port: port, username: username, password: password, database: database)
    }

    /// The URL with the password replaced by `***`, safe for logs and status output.
    public var redactedURL: String {
        var text = "redis://"
        if username != nil || password != nil {
            text += Self.percentEncode(username ?? "")
            if password != nil { text += ":***" }
            text += "@"
        }
        text += host.contains(":") ? "[\(host)]" : host
        text += ":\(port)/\(database)"
        return text
    }

    public var description: String { redactedURL }
    public var debugDescription: String { "RedisConfiguration(\(redactedURL))" }

    /// RFC 3986 percent-decoding of UTF-8 text; nil for a malformed escape.
    static func percentDecode(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let byte = utf8.popFirst() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard utf8.count >= 2, let high = hexValue(utf8.removeFirst()), let low = hexValue(utf8.removeFirst())
            else { return nil }
            bytes.append(high << 4 | low)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// Percent-encodes everything but RFC 3986 unreserved characters.
    static func percentEncode(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                result += byte < 16 ? "%0\(hex)" : "%\(hex)"
            }
        }
        return result
    }
}
