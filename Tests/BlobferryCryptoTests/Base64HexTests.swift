import BlobferryCrypto
import Testing

struct Base64HexTests {
    /// RFC 4648 section 10.
    @Test(arguments: [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ])
    func rfc4648(plain: String, encoded: String) {
        #expect(Base64.encode(Array(plain.utf8)) == encoded)
        #expect(Base64.decode(encoded) == Array(plain.utf8))
    }

    @Test func roundTripsEveryLengthAndByte() {
        for length in 0...300 {
            let data = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 97 &+ length) }
            #expect(Base64.decode(Base64.encode(data)) == data, "length \(length)")
        }
        let all = (0...255).map { UInt8($0) }
        #expect(Base64.decode(Base64.encode(all)) == all)
        #expect(Base64.encode([0xfb, 0xff, 0xbf]) == "+/+/")
    }

    @Test(arguments: [
        "Zg", "Zg=", "Zg===", "Z===", "====", "Zg==Zg==", "=Zg=", "Zm=v", "Zh==", "Zm9=", " Zg==", "Zg== ", "Zg==\n",
        "Zm9\nv", "Zm9v!", "Zm9-", "Zm9_", "Zm9vYmFy\0", "Zé==",
    ])
    func rejectsNonCanonicalInput(text: String) {
        #expect(Base64.decode(text) == nil)
    }

    @Test func hexIsLowercaseTwoDigitsPerByte() {
        #expect([UInt8]().hexString == "")
        #expect([0x00, 0x0f, 0xa0, 0xff].hexString == "000fa0ff")
        #expect((0...255).map { UInt8($0) }.hexString.count == 512)
        #expect(Digest.md5([]).hexString == "d41d8cd98f00b204e9800998ecf8427e")
        #expect("Hi".utf8.hexString == "4869")
    }
}
