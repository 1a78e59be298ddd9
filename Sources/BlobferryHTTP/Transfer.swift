import CCurl
import CCurlShims
import Foundation

/// One request on its way through the engine: the validated request, its header list,
/// the continuation to resume, and the response being received.
///
/// Threads: everything is set on the caller's thread before the transfer is submitted
/// (the engine lock orders that before the engine reads it); afterwards only the engine
/// thread touches it, in curl's callbacks and when the transfer ends. `cancelRequested`
/// is guarded by the engine lock.
final class Transfer: @unchecked Sendable {
    enum Mode {
        /// CURLOPT_NOBODY.
        case head
        /// No request body; a custom verb when not GET.
        case plain(customMethod: String?)
        /// CURLOPT_UPLOAD from `body` with an exact CURLOPT_INFILESIZE_LARGE; a custom
        /// verb when not PUT.
        case upload(customMethod: String?)
    }

    let url: String
    let body: [UInt8]
    let mode: Mode
    let timeoutMilliseconds: Int
    let headerList: CurlHeaderList
    /// `HTTPRequest.bodyHandler`: takes a 2xx body instead of `responseBody`.
    let bodyHandler: (@Sendable (UnsafeRawBufferPointer) -> Void)?

    var continuation: CheckedContinuation<HTTPResponse, Error>?
    /// Guarded by the engine lock.
    var cancelRequested = false

    // Engine thread only.
    var easy: EasyHandle?
    var uploadOffset = 0
    var responseHeaders: [HTTPHeader] = []
    var responseBody: [UInt8] = []
    /// Set by the first body chunk, when the status is known: where the body goes.
    var bodyStarted = false
    /// `bodyHandler` once the status turned out 2xx; nil while buffering.
    var streamingHandler: (@Sendable (UnsafeRawBufferPointer) -> Void)?
    /// Monotonic nanoseconds after which the engine fails the transfer itself, set when
    /// it is added (curl does not time out transfers waiting for a free connection).
    var deadline: UInt64 = .max

    init(_ request: HTTPRequest) throws {
        let method = request.method
        guard !method.isEmpty, method.utf8.allSatisfy(Transfer.isTokenByte) else {
            throw HTTPError(code: .invalidRequest, message: "invalid HTTP method \"\(method)\"")
        }
        guard Transfer.hasASCIIPrefix(request.url, "http://") || Transfer.hasASCIIPrefix(request.url, "https://") else {
            throw HTTPError(
                code: .invalidRequest,
                message: "only http and https URLs are supported (host \(Transfer.host(of: request.url)))")
        }
        guard !request.url.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            throw HTTPError(
                code: .invalidRequest,
                message: "URL contains spaces or control characters (host \(Transfer.host(of: request.url)))")
        }

        var lines: [String] = []
        lines.reserveCapacity(request.headers.count + 1)
        var hasExpect = false
        for header in request.headers {
            guard !header.name.isEmpty, header.name.utf8.allSatisfy(Transfer.isTokenByte) else {
                throw HTTPError(code: .invalidRequest, message: "invalid header name \"\(header.name)\"")
            }
            guard !header.value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) else {
                throw HTTPError(code: .invalidRequest, message: "header \(header.name) contains a line break")
            }
            if Transfer.equalsASCIICaseInsensitive(header.name, "content-length") {
                guard Int(header.value.trimmingCharacters(in: .whitespaces)) == request.body.count else {
                    throw HTTPError(
                        code: .invalidRequest,
                        message: "Content-Length \(header.value) does not match the body's \(request.body.count) bytes")
                }
            } else if Transfer.equalsASCIICaseInsensitive(header.name, "expect") {
                hasExpect = true
            }
            // "Name:" would tell curl to remove the header; "Name;" sends it empty.
            lines.append(header.value.isEmpty ? header.name + ";" : header.name + ": " + header.value)
        }
        // curl adds "Expect: 100-continue" to uploads; an empty Expect line removes it.
        if !hasExpect { lines.append("Expect:") }

        // Methods are case-sensitive: only the exact names get curl's special handling.
        if method == "HEAD" {
            guard request.body.isEmpty else {
                throw HTTPError(code: .invalidRequest, message: "a HEAD request cannot carry a body")
            }
            mode = .head
        } else if !request.body.isEmpty || method == "PUT" || method == "POST" {
            mode = .upload(customMethod: method == "PUT" ? nil : method)
        } else {
            mode = .plain(customMethod: method == "GET" ? nil : method)
        }

        self.url = request.url
        self.body = request.body
        self.bodyHandler = request.bodyHandler
        if request.timeout > 0 {
            timeoutMilliseconds = max(1, Int((min(request.timeout, 86_400 * 365) * 1000).rounded(.up)))
        } else {
            timeoutMilliseconds = 0
        }
        headerList = try CurlHeaderList(lines: lines)
    }

    /// Sets every option of this transfer on a freshly reset easy handle; `caFile` is the
    /// engine's CURLOPT_CAINFO (nil: curl's built-in default), `proxies` its proxies,
    /// `share` its share handle.
    func configure(
        _ easy: EasyHandle, connectTimeoutMilliseconds: Int, caFile: String?, proxies: HTTPProxies,
        share: UnsafeMutableRawPointer
    ) -> CURLcode {
        let handle = easy.raw
        let context = Unmanaged.passUnretained(self).toOpaque()
        easy.errorBuffer.pointee = 0
        var code = bf_easy_setopt_pointer(handle, CURLOPT_ERRORBUFFER, easy.errorBuffer)
        func set(_ next: @autoclosure () -> CURLcode) {
            if code == CURLE_OK { code = next() }
        }
        set(bf_easy_setopt_string(handle, CURLOPT_URL, url))
        set(bf_easy_setopt_pointer(handle, CURLOPT_SHARE, share))
        set(bf_easy_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https"))
        set(bf_easy_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
        set(bf_easy_setopt_long(handle, CURLOPT_PATH_AS_IS, 1))
        set(bf_easy_setopt_long(handle, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1))
        set(bf_easy_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, connectTimeoutMilliseconds))
        // Always set: "" stops curl from reading the variables itself (see HTTPProxies).
        set(bf_easy_setopt_string(handle, CURLOPT_PROXY, proxies.proxy(for: url) ?? ""))
        set(bf_easy_setopt_string(handle, CURLOPT_NOPROXY, proxies.noProxy))
        if let caFile {
            // The CA file alone, no CA directory: Debian's libcurl also has CURLOPT_CAPATH
            // (/etc/ssl/certs) built in, and curl caches the parsed CA store (per multi
            // handle, CURLOPT_CA_CACHE_TIMEOUT, 24 h) only when no CA path is set. Without
            // the cache every new connection parsed the whole bundle again: about 20 ms of
            // CPU and 0.8 MB per connection with Debian's 140 certificates.
            set(bf_easy_setopt_string(handle, CURLOPT_CAINFO, caFile))
            set(bf_easy_setopt_string(handle, CURLOPT_CAPATH, nil))
        }
        if timeoutMilliseconds > 0 {
            set(bf_easy_setopt_long(handle, CURLOPT_TIMEOUT_MS, timeoutMilliseconds))
        }
        set(bf_easy_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList.head))
        set(bf_easy_setopt_write_callback(handle, transferWriteCallback))
        set(bf_easy_setopt_pointer(handle, CURLOPT_WRITEDATA, context))
        set(bf_easy_setopt_header_callback(handle, transferHeaderCallback))
        set(bf_easy_setopt_pointer(handle, CURLOPT_HEADERDATA, context))
        switch mode {
        case .head:
            set(bf_easy_setopt_long(handle, CURLOPT_NOBODY, 1))
        case .plain(let customMethod):
            if let customMethod { set(bf_easy_setopt_string(handle, CURLOPT_CUSTOMREQUEST, customMethod)) }
        case .upload(let customMethod):
            set(bf_easy_setopt_long(handle, CURLOPT_UPLOAD, 1))
            set(bf_easy_setopt_off_t(handle, CURLOPT_INFILESIZE_LARGE, curl_off_t(body.count)))
            set(bf_easy_setopt_read_callback(handle, transferReadCallback))
            set(bf_easy_setopt_pointer(handle, CURLOPT_READDATA, context))
            set(bf_easy_setopt_seek_callback(handle, transferSeekCallback))
            set(bf_easy_setopt_pointer(handle, CURLOPT_SEEKDATA, context))
            if let customMethod { set(bf_easy_setopt_string(handle, CURLOPT_CUSTOMREQUEST, customMethod)) }
        }
        return code
    }

    // MARK: curl callbacks (engine thread)

    fileprivate func receiveBody(_ chunk: UnsafeRawBufferPointer) {
        if !bodyStarted {
            bodyStarted = true
            startBody()
        }
        if let streamingHandler {
            streamingHandler(chunk)
        } else {
            responseBody.append(contentsOf: chunk)
        }
    }

    /// Decides, at the first body byte (curl has parsed the status line and headers by
    /// then, and never writes interim 1xx bodies), whether the body streams to the
    /// request's handler (2xx) or is buffered (everything else, and no handler).
    private func startBody() {
        guard let easy else { return }
        if let bodyHandler {
            var status = 0
            if bf_easy_getinfo_long(easy.raw, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK, (200..<300).contains(status)
            {
                streamingHandler = bodyHandler
                return
            }
        }
        // Pre-size from Content-Length; capped so a huge or bogus length cannot reserve
        // more than it is worth up front.
        var length: curl_off_t = -1
        if bf_easy_getinfo_off_t(easy.raw, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length) == CURLE_OK, length > 0 {
            responseBody.reserveCapacity(Int(min(length, 256 << 20)))
        }
    }

    fileprivate func receiveHeaderLine(_ line: UnsafeRawBufferPointer) {
        var end = line.count
        while end > 0, line[end - 1] == 0x0A || line[end - 1] == 0x0D { end -= 1 }
        guard end > 0 else { return }  // the blank line ending a header block
        if end >= 5, line[0] == 0x48, line[1] == 0x54, line[2] == 0x54, line[3] == 0x50, line[4] == 0x2F {
            // "HTTP/": a new response starts (after a 1xx); keep only the last one's headers.
            responseHeaders.removeAll(keepingCapacity: true)
            return
        }
        if line[0] == 0x20 || line[0] == 0x09 {
            // Obsolete line folding: continues the previous value.
            if var last = responseHeaders.popLast() {
                last.value += " " + Transfer.trimmed(line, from: 0, to: end)
                responseHeaders.append(last)
            }
            return
        }
        guard let colon = line[0..<end].firstIndex(of: 0x3A) else { return }
        let name = String(decoding: UnsafeRawBufferPointer(rebasing: line[0..<colon]), as: UTF8.self)
        responseHeaders.append(HTTPHeader(name, Transfer.trimmed(line, from: colon + 1, to: end)))
    }

    fileprivate func readBody(into buffer: UnsafeMutablePointer<CChar>, capacity: Int) -> Int {
        let count = min(capacity, body.count - uploadOffset)
        guard count > 0 else { return 0 }
        body.withUnsafeBytes { source in
            guard let base = source.baseAddress else { return }
            UnsafeMutableRawPointer(buffer).copyMemory(from: base + uploadOffset, byteCount: count)
        }
        uploadOffset += count
        return count
    }

    fileprivate func seekBody(to offset: Int, origin: Int32) -> Int32 {
        // curl rewinds (SEEK_SET) to resend a body, e.g. on a reused connection the server
        // had closed.
        guard origin == SEEK_SET, offset >= 0, offset <= body.count else {
            return Int32(CURL_SEEKFUNC_CANTSEEK)
        }
        uploadOffset = offset
        return Int32(CURL_SEEKFUNC_OK)
    }

    // MARK: helpers

    /// The URL's host, the only part of the URL error messages may show.
    var host: String { Transfer.host(of: url) }

    /// Whether `string` starts with the lowercase ASCII `prefix`, ignoring case.
    static func hasASCIIPrefix(_ string: String, _ prefix: StaticString) -> Bool {
        let expected = UnsafeBufferPointer(start: prefix.utf8Start, count: prefix.utf8CodeUnitCount)
        var index = 0
        for byte in string.utf8 {
            if index == expected.count { return true }
            let folded = (byte >= 0x41 && byte <= 0x5A) ? byte | 0x20 : byte
            guard folded == expected[index] else { return false }
            index += 1
        }
        return index == expected.count
    }

    /// ASCII case-insensitive equality with a lowercase ASCII `other` (header names).
    static func equalsASCIICaseInsensitive(_ string: String, _ other: StaticString) -> Bool {
        guard string.utf8.count == other.utf8CodeUnitCount else { return false }
        let expected = UnsafeBufferPointer(start: other.utf8Start, count: other.utf8CodeUnitCount)
        for (index, byte) in string.utf8.enumerated() {
            let folded = (byte >= 0x41 && byte <= 0x5A) ? byte | 0x20 : byte
            guard folded == expected[index] else { return false }
        }
        return true
    }

    private static func trimmed(_ line: UnsafeRawBufferPointer, from start: Int, to end: Int) -> String {
        var start = start
        var end = end
        while start < end, line[start] == 0x20 || line[start] == 0x09 { start += 1 }
        while end > start, line[end - 1] == 0x20 || line[end - 1] == 0x09 { end -= 1 }
        return String(decoding: UnsafeRawBufferPointer(rebasing: line[start..<end]), as: UTF8.self)
    }

    /// RFC 9110 tchar: what a method or header name may contain.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    /// The host (and port) of `url`, without scheme, user info, path or query.
    static func host(of url: String) -> String {
        var rest = Substring(url)
        if let scheme = rest.range(of: "://") { rest = rest[scheme.upperBound...] }
        if let end = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) { rest = rest[..<end] }
        if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        return String(rest)
    }
}

// C callbacks: curl passes the Transfer (unretained; the engine keeps it alive while its
// easy handle is in the multi handle) as the user data pointer.

private let transferWriteCallback: curl_write_callback = { buffer, size, count, userdata in
    let length = size &* count
    guard let buffer, let userdata, length > 0 else { return length }
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    transfer.receiveBody(UnsafeRawBufferPointer(start: buffer, count: length))
    return length
}

private let transferHeaderCallback: curl_write_callback = { buffer, size, count, userdata in
    let length = size &* count
    guard let buffer, let userdata, length > 0 else { return length }
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    transfer.receiveHeaderLine(UnsafeRawBufferPointer(start: buffer, count: length))
    return length
}

private let transferReadCallback: curl_read_callback = { buffer, size, count, userdata in
    guard let buffer, let userdata else { return Int(CURL_READFUNC_ABORT) }
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    return transfer.readBody(into: buffer, capacity: size &* count)
}

private let transferSeekCallback: curl_seek_callback = { userdata, offset, origin in
    guard let userdata else { return Int32(CURL_SEEKFUNC_FAIL) }
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    return transfer.seekBody(to: Int(offset), origin: origin)
}
