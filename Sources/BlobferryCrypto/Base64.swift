import COpenSSL

/// Standard base64 (RFC 4648 section 4, with padding, no line breaks) via OpenSSL's
/// EVP_EncodeBlock / EVP_DecodeBlock.
///
/// Content-MD5 values, Azure account keys and Azure signatures are all base64. Decoding is
/// strict because a typo in an account key must fail loudly at startup rather than produce
/// signatures that every request rejects: anything but the canonical encoding of some bytes
/// (whitespace, a wrong alphabet, missing or misplaced padding, non-zero padding bits) is nil.
public enum Base64 {
    /// Encodes `bytes`; the empty array encodes to "".
    public static func encode(_ bytes: [UInt8]) -> String {
        if bytes.isEmpty { return "" }
        let outCount = (bytes.count + 2) / 3 * 4
        // EVP_EncodeBlock writes a trailing NUL.
        var out = [UInt8](repeating: 0, count: outCount + 1)
        let written = bytes.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output in
                EVP_EncodeBlock(output.baseAddress, input.baseAddress, Int32(input.count))
            }
        }
        precondition(Int(written) == outCount, "libcrypto EVP_EncodeBlock wrote an unexpected length")
        return String(decoding: out[0..<outCount], as: UTF8.self)
    }

    /// Decodes canonical padded base64; returns nil for anything else. "" decodes to [].
    public static func decode(_ text: String) -> [UInt8]? {
        let input = Array(text.utf8)
        if input.isEmpty { return [] }
        guard input.count % 4 == 0 else { return nil }
        var padding = 0
        for (index, char) in input.enumerated() {
            if char == UInt8(ascii: "=") {
                // "=" only in the last two positions, and nothing but "=" after the first one.
                guard index >= input.count - 2 else { return nil }
                padding += 1
            } else {
                guard padding == 0, isAlphabet(char) else { return nil }
            }
        }
        var out = [UInt8](repeating: 0, count: input.count / 4 * 3)
        let decoded = input.withUnsafeBufferPointer { inBuffer in
            out.withUnsafeMutableBufferPointer { outBuffer in
                EVP_DecodeBlock(outBuffer.baseAddress, inBuffer.baseAddress, Int32(inBuffer.count))
            }
        }
        // EVP_DecodeBlock counts the padding positions as zero bytes; drop them.
        guard decoded >= 0, Int(decoded) == out.count else { return nil }
        out.removeLast(padding)
        // Rejects non-zero bits under the padding ("Zh==" is not the encoding of any bytes).
        guard encode(out).utf8.elementsEqual(input) else { return nil }
        return out
    }

    private static func isAlphabet(_ char: UInt8) -> Bool {
        switch char {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "/"):
            return true
        default:
            return false
        }
    }
}
