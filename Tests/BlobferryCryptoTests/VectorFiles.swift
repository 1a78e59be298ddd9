import Foundation
import Testing

/// Loads the JSON vector files that Vectors/generate_*.py wrote from botocore and azure-storage-blob.
enum VectorFiles {
    struct LoadError: Error, CustomStringConvertible {
        let description: String
    }

    static func load<T: Decodable>(_ name: String, as type: T.Type) throws -> T {
        guard let url = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Vectors") else {
            throw LoadError(description: "Vectors/\(name).json is not in the test bundle")
        }
        return try JSONDecoder().decode(T.self, from: Data(contentsOf: url))
    }

    /// Name/value pairs stored as two-element arrays.
    static func pairs(_ raw: [[String]]) -> [(String, String)] {
        raw.map { ($0.first ?? "", $0.count > 1 ? $0[1] : "") }
    }

    static func bytes(hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var iterator = hex.utf8.makeIterator()
        while let high = iterator.next(), let low = iterator.next() {
            out.append(UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16) ?? 0)
        }
        return out
    }
}

struct SigV4VectorFile: Decodable {
    struct Vector: Decodable, Sendable, CustomTestStringConvertible {
        struct Credentials: Decodable, Sendable {
            var accessKeyID: String
            var secretAccessKey: String
            var sessionToken: String?
        }
        struct Payload: Decodable, Sendable {
            var kind: String
            var value: String?
            var hex: String?
        }
        struct Input: Decodable, Sendable {
            var method: String
            var host: String
            var encodedPath: String
            var query: [[String]]
            var headers: [[String]]
            var payload: Payload
            var date: Int
            var region: String
            var credentials: Credentials
        }
        var name: String
        var input: Input
        var expected: [String: String]
        var testDescription: String { name }
    }
    var vectors: [Vector]
}

struct AzureVectorFile: Decodable {
    struct SharedKeyVector: Decodable, Sendable, CustomTestStringConvertible {
        struct Input: Decodable, Sendable {
            var account: String
            var key: String
            var method: String
            var encodedPath: String
            var query: [[String]]
            var headers: [[String]]
        }
        struct Expected: Decodable, Sendable {
            var authorization: String
            var stringToSign: String
        }
        var name: String
        var input: Input
        var expected: Expected
        var testDescription: String { name }
    }

    struct SASVector: Decodable, Sendable, CustomTestStringConvertible {
        struct Input: Decodable, Sendable {
            var account: String
            var key: String
            var container: String?
            var blob: String?
            var services: String?
            var resourceTypes: String?
            var permissions: String
            var start: Int?
            var expiry: Int
            var version: String
            var protocols: String?
        }
        var name: String
        var kind: String
        var input: Input
        var expected: [String: String]
        var testDescription: String { name }
    }

    var defaultVersion: String
    var sharedKey: [SharedKeyVector]
    var sas: [SASVector]
}
