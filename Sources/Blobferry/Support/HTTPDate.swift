import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// RFC 1123 dates for `x-ms-date`, formatted with the C library (thread-safe and far
/// cheaper than a DateFormatter on the per-request path).
enum HTTPDate {
    static func rfc1123(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let length = strftime(&buffer, buffer.count, "%a, %d %b %Y %H:%M:%S GMT", &parts)
        return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
