import COpenSSL

/// Incremental MD5 (for hashing a blob as its parts arrive); owns an EVP_MD_CTX.
///
/// A consumer streams a blob from Azure to S3 and needs its MD5 for Content-MD5 without
/// holding the whole blob twice, so it feeds each received chunk here. The context is created
/// in `init`, freed in `deinit`, and never leaves this object. Not thread-safe: one hasher per
/// transfer.
public final class MD5Hasher {
    private let context: OpaquePointer

    public init() {
        guard let context = EVP_MD_CTX_new() else {
            preconditionFailure("libcrypto EVP_MD_CTX_new failed (out of memory)")
        }
        self.context = context
        reset()
    }

    deinit {
        EVP_MD_CTX_free(context)
    }

    /// Adds `bytes` to the running digest.
    public func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Adds the bytes of `buffer` (for example a libcurl write callback's buffer) to the running digest.
    public func update(_ buffer: UnsafeRawBufferPointer) {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return }
        let result = EVP_DigestUpdate(context, base, buffer.count)
        precondition(result == 1, "libcrypto EVP_DigestUpdate failed")
    }

    /// Returns the 16-byte MD5 of everything added so far, then starts over empty, so one
    /// hasher can be reused for the next blob.
    public func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 16)
        var outLength: UInt32 = 0
        let result = out.withUnsafeMutableBufferPointer { EVP_DigestFinal_ex(context, $0.baseAddress, &outLength) }
        precondition(result == 1 && outLength == 16, "libcrypto EVP_DigestFinal_ex failed")
        reset()
        return out
    }

    private func reset() {
        let result = EVP_DigestInit_ex(context, EVP_md5(), nil)
        precondition(result == 1, "libcrypto EVP_DigestInit_ex(MD5) failed (MD5 disabled?)")
    }
}
