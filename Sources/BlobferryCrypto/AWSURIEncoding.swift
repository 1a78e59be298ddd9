/// RFC 3986 encoding with S3's rules ("/" kept in paths when encodeSlash is false).
///
/// SigV4 signs the path and query exactly as S3 re-derives them: every byte of the UTF-8
/// form except the unreserved `A-Z a-z 0-9 - . _ ~` becomes `%XX` with uppercase hex, and "/"
/// is kept only in an object key's path. Building the wire URL with the same function keeps
/// what is sent and what is signed identical.
public enum AWSURIEncoding {
    public static func encode(_ text: String, encodeSlash: Bool) -> String {
        let hex: [UInt8] = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if isUnreserved(byte) || (byte == UInt8(ascii: "/") && !encodeSlash) {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0f)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
            UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }
}
