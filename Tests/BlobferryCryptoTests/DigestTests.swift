import BlobferryCrypto
import Testing

/// Known answers: RFC 1321 appendix A.5 (MD5), FIPS 180-2 appendix B (SHA-256), RFC 4231 (HMAC-SHA256).
struct DigestTests {
    private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    private func fromHex(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var iterator = hex.utf8.makeIterator()
        while let high = iterator.next(), let low = iterator.next() {
            out.append(UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16) ?? 0)
        }
        return out
    }

    @Test(arguments: [
        ("", "d41d8cd98f00b204e9800998ecf8427e"),
        ("a", "0cc175b9c0f1b6a831c399e269772661"),
        ("abc", "900150983cd24fb0d6963f7d28e17f72"),
        ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
        ("abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"),
        ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "d174ab98d277d9f5a5611c2c9f419d9f"),
        (String(repeating: "1234567890", count: 8), "57edf4a22be3c955ac49da2e2107b67a"),
    ])
    func md5(input: String, expected: String) {
        #expect(Digest.md5(bytes(input)).hexString == expected)
    }

    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (
            "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        ),
    ])
    func sha256(input: String, expected: String) {
        #expect(Digest.sha256(bytes(input)).hexString == expected)
    }

    @Test func sha256OfOneMillionA() {
        let input = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(Digest.sha256(input).hexString == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// RFC 4231 test cases 1, 2, 3, 4, 6 and 7 (case 5 tests truncated output).
    @Test(arguments: [
        (
            String(repeating: "0b", count: 20), "4869205468657265",
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        ),
        (
            "4a656665", "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        ),
        (
            String(repeating: "aa", count: 20), String(repeating: "dd", count: 50),
            "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"
        ),
        (
            "0102030405060708090a0b0c0d0e0f10111213141516171819", String(repeating: "cd", count: 50),
            "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"
        ),
        (
            String(repeating: "aa", count: 131),
            "54657374205573696e67204c6172676572205468616e20426c6f636b2d53697a65204b6579202d2048617368204b6579204669727374",
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        ),
        (
            String(repeating: "aa", count: 131),
            "5468697320697320612074657374207573696e672061206c6172676572207468616e20626c6f636b2d73697a65206b657920616e642061206c6172676572207468616e20626c6f636b2d73697a6520646174612e20546865206b6579206e6565647320746f20626520686173686564206265666f7265206265696e6720757365642062792074686520484d414320616c676f726974686d2e",
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"
        ),
    ])
    func hmacSHA256(keyHex: String, dataHex: String, expected: String) {
        #expect(Digest.hmacSHA256(key: fromHex(keyHex), data: fromHex(dataHex)).hexString == expected)
    }

    @Test func hmacWithEmptyKeyAndData() {
        // Python: hmac.new(b"", b"", hashlib.sha256).hexdigest()
        #expect(
            Digest.hmacSHA256(key: [], data: []).hexString
                == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
    }

    @Test func md5HasherMatchesOneShotForAnyChunking() {
        let data = (0..<100_003).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let expected = Digest.md5(data)
        for chunk in [1, 7, 64, 1000, 65_536, 200_000] {
            let hasher = MD5Hasher()
            var offset = 0
            while offset < data.count {
                let end = min(offset + chunk, data.count)
                if chunk % 2 == 0 {
                    hasher.update(Array(data[offset..<end]))
                } else {
                    data[offset..<end].withUnsafeBytes { hasher.update($0) }
                }
                offset = end
            }
            #expect(hasher.finalize() == expected, "chunk size \(chunk)")
        }
    }

    @Test func md5HasherStartsOverAfterFinalize() {
        let hasher = MD5Hasher()
        hasher.update(bytes("message "))
        hasher.update(bytes("digest"))
        #expect(hasher.finalize().hexString == "f96b697d7cb7938d525a2f31aaf161d0")
        #expect(hasher.finalize().hexString == "d41d8cd98f00b204e9800998ecf8427e")
        hasher.update(UnsafeRawBufferPointer(start: nil, count: 0))
        hasher.update(bytes("abc"))
        #expect(hasher.finalize().hexString == "900150983cd24fb0d6963f7d28e17f72")
    }
}
