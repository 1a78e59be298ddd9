import BlobferryHTTP
import BlobferryTestSupport
import Foundation
import Testing

@testable import Blobferry

/// The signed-request path with signers of the shape the next credential sources take (an
/// async token fetch, a fetch that fails), against the local echo server: what a signer
/// adds is what goes on the wire, a signer's failure stops the request, and no credential
/// reaches an error.
@Suite struct SignedRequestExecutorTests {
    /// What the echo server saw of one request.
    struct Echo: Decodable {
        var method: String
        var path: String
        var headers: [[String]]

        func values(_ name: String) -> [String] {
            headers.filter { $0.first?.lowercased() == name.lowercased() }.map { $0.count > 1 ? $0[1] : "" }
        }
    }

    /// A bearer-token signer: asks a token source (an actor, as a refreshing one would be)
    /// for the current token on every request; `sasQuery` also sends query credentials.
    struct TokenSigner: RequestSigner {
        actor Source {
            private(set) var fetches = 0
            func token() -> String {
                fetches += 1
                return "token-\(fetches)"
            }
        }
        let source = Source()
        var sasQuery = ""

        func sign(_ request: inout SignableRequest) async throws {
            request.headers.append(HTTPHeader("Authorization", "Bearer \(await source.token())"))
            request.credentialQuery = sasQuery
        }
    }

    /// A signer whose credential source is unreachable.
    struct FailingSigner: RequestSigner {
        func sign(_ request: inout SignableRequest) async throws {
            throw RemoteError(service: .azure, kind: .transient, message: "token endpoint unreachable")
        }
    }

    static func executor(_ origin: String, _ signer: any RequestSigner, http: HTTPEngine) -> SignedRequestExecutor {
        let host = String(origin.dropFirst("http://".count))
        return SignedRequestExecutor(
            service: .azure, origin: origin, host: host, displayHost: "echo", signer: signer, http: http, timeout: 10)
    }

    @Test func anAsyncSignerSignsEveryRequestAndItsQueryGoesLast() async throws {
        let server = try EchoServerProcess()
        let http = try HTTPEngine()
        defer { http.shutdown() }
        let signer = TokenSigner(sasQuery: "sv=1&sig=abc%2B")
        let executor = Self.executor(server.baseURL, signer, http: http)
        for expected in ["token-1", "token-2"] {
            let response = try await executor.send(
                "PUT", path: "/echo/a%20b", query: [("z", "1"), ("a", "x y")], body: [1, 2],
                operation: "Echo")
            let echo = try JSONDecoder().decode(Echo.self, from: Data(response.body))
            #expect(echo.method == "PUT")
            #expect(echo.path == "/echo/a%20b?a=x%20y&z=1&sv=1&sig=abc%2B")
            #expect(echo.values("Authorization") == ["Bearer \(expected)"])
            #expect(echo.values("Content-Length") == ["2"])
        }
        #expect(await signer.source.fetches == 2)
    }

    @Test func aSignerThatFailsStopsTheRequestWithItsOwnError() async throws {
        let server = try EchoServerProcess()
        let http = try HTTPEngine()
        defer { http.shutdown() }
        let error = await captureRemoteError {
            _ = try await Self.executor(server.baseURL, FailingSigner(), http: http)
                .send("GET", path: "/echo/x", operation: "Echo")
        }
        #expect(error?.kind == .transient)
        #expect(error?.message == "token endpoint unreachable")
        let stats = try await http.execute(HTTPRequest(method: "GET", url: server.url("/stats")))
        #expect(String(decoding: stats.body, as: UTF8.self).contains("\"requests\": 1"))
    }

    @Test func failuresAreClassifiedAndNeverShowCredentials() async throws {
        let server = try EchoServerProcess()
        let http = try HTTPEngine()
        defer { http.shutdown() }
        let signer = TokenSigner(sasQuery: "sig=very-secret")
        let refused = await captureRemoteError {
            _ = try await Self.executor(server.baseURL, signer, http: http)
                .send("GET", path: "/status/403", operation: "Get Blob")
        }
        #expect(refused?.kind == .authorization)
        #expect(refused?.status == 403)

        let closed = "http://127.0.0.1:\(try LoopbackPort.free())"
        let unreachable = await captureRemoteError {
            _ = try await Self.executor(closed, signer, http: http).send("GET", path: "/x", operation: "Get Blob")
        }
        #expect(unreachable?.kind == .transient)
        for error in [refused, unreachable] {
            let text = error.map(String.init(describing:)) ?? ""
            #expect(!text.contains("very-secret") && !text.contains("Bearer") && !text.contains("token-"))
        }
        #expect(unreachable?.message.hasPrefix("Get Blob on echo") == true)
    }

    @Test func aSignedRequestPrintsWithoutItsCredentials() {
        var request = SignableRequest(
            method: "GET", host: "acct.blob.core.windows.net", encodedPath: "/c/b", query: [("comp", "list")],
            headers: [])
        request.headers.append(HTTPHeader("Authorization", "SharedKey acct:c2lnbmF0dXJl"))
        request.credentialQuery = "sig=c2lnbmF0dXJl"
        var dumped = ""
        dump(request, to: &dumped)
        for text in [String(describing: request), dumped] {
            #expect(!text.contains("c2lnbmF0dXJl") && !text.contains("comp"))
        }
        #expect(String(describing: request) == "GET acct.blob.core.windows.net/c/b")
    }
}
