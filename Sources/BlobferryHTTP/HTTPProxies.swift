import Foundation

/// The proxies transfers go through, from the variables every HTTP client reads.
///
/// Why the engine reads them itself instead of leaving it to libcurl: curl ignores an
/// upper-case `HTTP_PROXY` (a CGI precaution), while the AWS and Azure SDKs, Go programs
/// and Python's requests honour it; a company proxy set up for those must work here too.
/// Lower case wins over upper case, as in curl. `NO_PROXY` is handed to curl as
/// CURLOPT_NOPROXY (host names, domain suffixes, IP addresses, CIDR ranges, `*`).
public struct HTTPProxies: Sendable, Equatable {
    /// For `http://` URLs: `http_proxy`, `HTTP_PROXY`, else `all_proxy`, `ALL_PROXY`.
    public var http: String?
    /// For `https://` URLs: `https_proxy`, `HTTPS_PROXY`, else `all_proxy`, `ALL_PROXY`.
    public var https: String?
    /// Hosts reached directly: `no_proxy`, `NO_PROXY`.
    public var noProxy: String?

    public init(http: String? = nil, https: String? = nil, noProxy: String? = nil) {
        self.http = http
        self.https = https
        self.noProxy = noProxy
    }

    /// The proxies `environment` names (empty values count as unset).
    public static func from(environment: [String: String]) -> HTTPProxies {
        func first(_ names: String...) -> String? {
            names.lazy.compactMap { environment[$0] }.first { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        }
        let all = first("all_proxy", "ALL_PROXY")
        return HTTPProxies(
            http: first("http_proxy", "HTTP_PROXY") ?? all, https: first("https_proxy", "HTTPS_PROXY") ?? all,
            noProxy: first("no_proxy", "NO_PROXY"))
    }

    /// The proxy for `url` before NO_PROXY is applied (curl applies it), nil for none.
    public func proxy(for url: String) -> String? {
        let lower = url.prefix(8).lowercased()
        if lower.hasPrefix("https://") { return https }
        if lower.hasPrefix("http://") { return http }
        return nil
    }

    /// A proxy URL with any user and password removed, for logs.
    public static func redacted(_ proxy: String) -> String { withoutUserInfo(proxy) }

    /// `text` with the `user:password@` part of every URL or host in it removed, also where
    /// it does not parse as a URL (no scheme, an unencoded `@` or `%` in the password):
    /// curl's messages quote a proxy as it was given.
    public static func withoutUserInfo(_ text: String) -> String {
        guard let userInfo else { return text.contains("@") ? "(redacted)" : text }
        var result = text
        while let match = userInfo.firstMatch(in: result, range: NSRange(result.startIndex..., in: result)),
            let whole = Range(match.range, in: result), let lead = Range(match.range(at: 1), in: result)
        {
            result.replaceSubrange(whole, with: result[lead])
        }
        return result
    }

    /// What may stand before a user name (start, a space, a quote, a parenthesis, `=`, or
    /// a scheme's `://`), then the user information up to an `@`.
    nonisolated(unsafe) private static let userInfo = try? NSRegularExpression(
        pattern: #"(^|[\s'"(=]|://)[^\s'"/@]+@"#)
}
