import Foundation
import Testing

@testable import BlobferryCrypto

/// Every request in Vectors/sigv4_vectors.json, signed by botocore's S3SigV4Auth: each header
/// SigV4Signer returns must equal botocore's, character for character.
struct SigV4VectorTests {
    static let vectors: [SigV4VectorFile.Vector] =
        (try? VectorFiles.load("sigv4_vectors", as: SigV4VectorFile.self))?
        .vectors ?? []

    static func sign(_ vector: SigV4VectorFile.Vector) -> [(String, String)] {
        let input = vector.input
        let credentials = AWSCredentials(
            accessKeyID: input.credentials.accessKeyID, secretAccessKey: input.credentials.secretAccessKey,
            sessionToken: input.credentials.sessionToken)
        let payload: SigV4Signer.Payload
        switch input.payload.kind {
        case "unsigned": payload = .unsigned
        case "sha256Hex": payload = .sha256Hex(input.payload.value ?? "")
        default: payload = .bytes(VectorFiles.bytes(hex: input.payload.hex ?? ""))
        }
        return SigV4Signer(credentials: credentials, region: input.region).sign(
            method: input.method, host: input.host, encodedPath: input.encodedPath,
            query: VectorFiles.pairs(input.query), headers: VectorFiles.pairs(input.headers), payload: payload,
            date: Date(timeIntervalSince1970: TimeInterval(input.date)))
    }

    @Test func theVectorFileIsThereAndCoversTheCases() throws {
        let file = try VectorFiles.load("sigv4_vectors", as: SigV4VectorFile.self)
        #expect(file.vectors.count >= 40)
        #expect(file.vectors.contains { $0.input.credentials.sessionToken != nil })
        #expect(file.vectors.contains { $0.input.payload.kind == "unsigned" })
        #expect(file.vectors.contains { $0.input.encodedPath.utf8.count > 1000 })
    }

    @Test(arguments: vectors)
    func matchesBotocore(vector: SigV4VectorFile.Vector) {
        let actual = Self.sign(vector)
        let actualByName = Dictionary(actual.map { ($0.0.lowercased(), $0.1) }, uniquingKeysWith: { first, _ in first })
        #expect(actual.count == vector.expected.count, "same set of headers")
        for (name, expected) in vector.expected {
            // Exact string equality: one different character anywhere fails the vector.
            #expect(actualByName[name] == expected, "\(name)")
        }
    }
}
