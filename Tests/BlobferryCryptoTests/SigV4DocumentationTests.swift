import Foundation
import Testing

@testable import BlobferryCrypto

/// The worked examples of "Signature Calculations for the Authorization Header: Transferring
/// Payload in a Single Chunk" (Amazon S3 API reference): examplebucket, 2013-05-24, us-east-1.
/// Expected signatures are copied from that page.
struct SigV4DocumentationTests {
    static let credentials = AWSCredentials(
        accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    static let signer = SigV4Signer(credentials: credentials, region: "us-east-1")
    static let date = Date(timeIntervalSince1970: 1_369_353_600)  // 2013-05-24T00:00:00Z
    static let host = "examplebucket.s3.amazonaws.com"

    private func authorization(_ headers: [(String, String)]) -> String? {
        headers.first { $0.0.lowercased() == "authorization" }?.1
    }

    @Test func getObjectWithRange() {
        let signing = Self.signer.signing(
            method: "GET", host: Self.host, encodedPath: "/test.txt", query: [], headers: [("Range", "bytes=0-9")],
            payload: .sha256Hex(SigV4Signer.emptyPayloadSHA256), date: Self.date)
        #expect(
            signing.canonicalRequest == """
                GET
                /test.txt

                host:examplebucket.s3.amazonaws.com
                range:bytes=0-9
                x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
                x-amz-date:20130524T000000Z

                host;range;x-amz-content-sha256;x-amz-date
                e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
                """)
        #expect(
            signing.stringToSign == """
                AWS4-HMAC-SHA256
                20130524T000000Z
                20130524/us-east-1/s3/aws4_request
                7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972
                """)
        #expect(signing.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        #expect(
            authorization(signing.headers)
                == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                + "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func putObject() {
        let body = Array("Welcome to Amazon S3.".utf8)
        let headers = Self.signer.sign(
            method: "PUT", host: Self.host,
            encodedPath: "/" + AWSURIEncoding.encode("test$file.text", encodeSlash: false),
            query: [],
            headers: [("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY")],
            payload: .bytes(body), date: Self.date)
        #expect(
            headers.first { $0.0 == "x-amz-content-sha256" }?.1
                == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
        #expect(
            authorization(headers)
                == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                + "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, "
                + "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
    }

    @Test func getBucketLifecycle() {
        let signing = Self.signer.signing(
            method: "GET", host: Self.host, encodedPath: "/", query: [("lifecycle", "")], headers: [],
            payload: .bytes([]), date: Self.date)
        #expect(signing.signedHeaders == "host;x-amz-content-sha256;x-amz-date")
        #expect(signing.signature == "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")
    }

    @Test func getBucketListObjects() {
        // Given in the opposite order: the canonical query must sort it.
        let signing = Self.signer.signing(
            method: "GET", host: Self.host, encodedPath: "/", query: [("prefix", "J"), ("max-keys", "2")],
            headers: [], payload: .sha256Hex(SigV4Signer.emptyPayloadSHA256), date: Self.date)
        #expect(signing.canonicalRequest.contains("\nmax-keys=2&prefix=J\n"))
        #expect(signing.signature == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
    }

    @Test func returnsExactlyTheManagedHeaders() {
        let withToken = SigV4Signer(
            credentials: AWSCredentials(accessKeyID: "AK", secretAccessKey: "SK", sessionToken: "TOKEN"),
            region: "us-east-1")
        let headers = withToken.sign(
            method: "PUT", host: "h", encodedPath: "/k",
            query: [], headers: [("x-amz-date", "stale"), ("Authorization", "stale"), ("Host", "other")],
            payload: .unsigned, date: Self.date)
        #expect(headers.map(\.0) == ["x-amz-date", "x-amz-content-sha256", "x-amz-security-token", "Authorization"])
        #expect(headers[0].1 == "20130524T000000Z")
        #expect(headers[1].1 == "UNSIGNED-PAYLOAD")
        #expect(headers[2].1 == "TOKEN")
        #expect(headers[3].1.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"))
        let without = Self.signer.sign(
            method: "GET", host: "h", encodedPath: "/", query: [], headers: [], payload: .unsigned, date: Self.date)
        #expect(without.map(\.0) == ["x-amz-date", "x-amz-content-sha256", "Authorization"])
    }

    @Test(arguments: [
        ("", true, ""),
        ("AZaz09-._~", true, "AZaz09-._~"),
        ("a b/c+d=é", true, "a%20b%2Fc%2Bd%3D%C3%A9"),
        ("dir one/file+1.txt", false, "dir%20one/file%2B1.txt"),
        ("%2F?#&$@!*'()", false, "%252F%3F%23%26%24%40%21%2A%27%28%29"),
        ("😀", false, "%F0%9F%98%80"),
    ])
    func uriEncoding(text: String, encodeSlash: Bool, expected: String) {
        #expect(AWSURIEncoding.encode(text, encodeSlash: encodeSlash) == expected)
    }

    @Test func canonicalQueryEncodesAndSorts() {
        #expect(
            SigV4Signer.canonicalQuery([("prefix", "a b/c"), ("list-type", "2"), ("A", "x"), ("a", ""), ("a", "+")])
                == "A=x&a=&a=%2B&list-type=2&prefix=a%20b%2Fc")
    }

    @Test func trimAllCollapsesWhitespace() {
        #expect(SigV4Signer.trimAll("  a \t b\n\nc  ") == "a b c")
        #expect(SigV4Signer.trimAll("") == "")
        #expect(SigV4Signer.trimAll("   ") == "")
        // The ASCII fast path hands these on; everything else takes the Unicode path.
        #expect(SigV4Signer.trimAll("a b/c=d") == "a b/c=d")
        #expect(SigV4Signer.trimAll("a  b") == "a b")
        #expect(SigV4Signer.trimAll(" a") == "a")
        #expect(SigV4Signer.trimAll("a ") == "a")
        #expect(SigV4Signer.trimAll("a\u{a0}b") == "a b")
        #expect(SigV4Signer.trimAll("a\u{1c}b") == "a b")
    }

    @Test func credentialsNeverPrintTheSecretOrToken() {
        let credentials = AWSCredentials(
            accessKeyID: "AKIDEXAMPLE", secretAccessKey: "SECRET-abc123", sessionToken: "TOKEN-xyz789")
        var dumped = ""
        dump(credentials, to: &dumped)
        for text in [
            credentials.description, String(describing: credentials), String(reflecting: credentials), "\(credentials)",
            dumped,
        ] {
            #expect(text.contains("AKIDEXAMPLE"))
            #expect(!text.contains("SECRET-abc123"))
            #expect(!text.contains("TOKEN-xyz789"))
        }
    }

    @Test func utcFormatting() {
        #expect(UTCTimestamp(Date(timeIntervalSince1970: 0)).rfc1123 == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(HTTPDate.rfc1123(Self.date) == "Fri, 24 May 2013 00:00:00 GMT")
        let leap = Date(timeIntervalSince1970: 951_825_599.999)  // 2000-02-29T11:59:59.999Z
        #expect(UTCTimestamp(leap).iso8601 == "2000-02-29T11:59:59Z")
        #expect(UTCTimestamp(leap).amzDate == "20000229T115959Z")
        #expect(UTCTimestamp(Date(timeIntervalSince1970: -1)).iso8601 == "1969-12-31T23:59:59Z")
        #expect(HTTPDate.rfc1123(Date(timeIntervalSince1970: 1_773_500_966)) == "Sat, 14 Mar 2026 15:09:26 GMT")
    }
}
