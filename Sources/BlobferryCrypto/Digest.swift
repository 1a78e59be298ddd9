import COpenSSL

/// One-shot MD5, SHA-256 and HMAC-SHA256 over byte arrays, computed by OpenSSL's libcrypto.
///
/// MD5 is what S3 checks in Content-MD5 and what Azure reports for a blob; SHA-256 and
/// HMAC-SHA256 are the building blocks of AWS SigV4 and Azure Shared Key / SAS signatures.
/// libcrypto's assembly implementations keep the cost per copied byte low.
public enum Digest {
    /// The 16-byte MD5 digest of `bytes`.
    public static func md5(_ bytes: [UInt8]) -> [UInt8] {
        oneShot(bytes, EVP_md5(), length: 16)
    }

    /// The 32-byte SHA-256 digest of `bytes`.
    public static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        oneShot(bytes, EVP_sha256(), length: 32)
    }

    /// The 32-byte HMAC-SHA256 of `data` under `key` (RFC 2104).
    public static func hmacSHA256(key: [UInt8], data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var outLength: UInt32 = 0
        let result = key.withUnsafeBufferPointer { keyBuffer in
            data.withUnsafeBufferPointer { dataBuffer in
                out.withUnsafeMutableBufferPointer { outBuffer in
                    HMAC(
                        EVP_sha256(), keyBuffer.baseAddress, Int32(keyBuffer.count),
                        dataBuffer.baseAddress, dataBuffer.count, outBuffer.baseAddress, &outLength)
                }
            }
        }
        precondition(result != nil && outLength == 32, "libcrypto HMAC-SHA256 failed")
        return out
    }

    private static func oneShot(_ bytes: [UInt8], _ md: OpaquePointer?, length: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: length)
        var outLength: UInt32 = 0
        let result = bytes.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output in
                EVP_Digest(input.baseAddress, input.count, output.baseAddress, &outLength, md, nil)
            }
        }
        precondition(result == 1 && Int(outLength) == length, "libcrypto EVP_Digest failed")
        return out
    }
}
