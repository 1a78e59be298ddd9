import BlobferryTestSupport
import Foundation
import Testing

@testable import BlobferryHTTP

#if canImport(Glibc)
    import Glibc
#endif

/// Why a test fixture could not be set up.
struct FixtureError: Error, CustomStringConvertible {
    let description: String
}

/// `scripts/http_echo_server.py --tls-cert ... --tls-key ...` on a free loopback port.
final class TLSEchoServer: @unchecked Sendable {
    let port: Int
    private let process: LocalProcess

    init(pki: TestPKI) throws {
        let script = TestEnvironment.path("scripts/http_echo_server.py")
        let portFile = pki.directory.appendingPathComponent("echo-\(UUID().uuidString.prefix(8)).port").path
        let logFile = pki.directory.appendingPathComponent("echo.log").path
        process = try LocalProcess(
            "python3",
            [
                script, "--port", "0", "--port-file", portFile, "--tls-cert", pki.serverCertificate, "--tls-key",
                pki.serverKey,
            ],
            logFile: logFile)
        let deadline = Date().addingTimeInterval(20)
        var bound: Int?
        while Date() < deadline, process.isRunning, bound == nil {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8) {
                bound = Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            if bound == nil { usleep(20_000) }
        }
        guard let bound else {
            process.stop(signal: SIGKILL)
            throw FixtureError(
                description: "TLS echo server did not start: "
                    + ((try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""))
        }
        port = bound
    }

    func url(_ path: String) -> String { "https://127.0.0.1:\(port)\(path)" }

    /// The server's counters: connections, requests, tls_handshakes, tls_resumed.
    func stats(_ engine: HTTPEngine) async throws -> [String: Int] {
        let response = try await engine.execute(HTTPRequest(method: "GET", url: url("/stats")))
        return try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Int])
    }

    deinit { process.stop() }
}

/// Certificate verification with a CA file, and what a new TLS connection costs.
@Suite(.serialized)
struct HTTPEngineTLSTests {
    func engine(caFile: String?, connections: Int = 128) throws -> HTTPEngine {
        var configuration = HTTPEngineConfiguration()
        configuration.caBundlePath = caFile
        configuration.maxConnectionsPerHost = connections
        return try HTTPEngine(configuration: configuration)
    }

    @Test func theConfiguredCAFileIsTrusted() async throws {
        let pki = try await TestPKI()
        let server = try TLSEchoServer(pki: pki)
        let engine = try engine(caFile: pki.caFile)
        #expect(engine.caBundlePath == pki.caFile)
        let response = try await engine.execute(HTTPRequest(method: "GET", url: server.url("/bytes/300")))
        #expect(response.status == 200)
        #expect(response.body == patternBytes(300))
    }

    @Test func aCAFileWithoutTheIssuerFailsNamingTheCertificateProblem() async throws {
        let pki = try await TestPKI()
        let server = try TLSEchoServer(pki: pki)
        for caFile in [pki.otherCAFile, TestPKI.systemBundle] {
            let engine = try engine(caFile: caFile)
            let error = await httpError {
                try await engine.execute(HTTPRequest(method: "GET", url: server.url("/bytes/3?sig=secret")))
            }
            #expect(error?.code == .transport)
            #expect(error?.curlCode == 60)  // CURLE_PEER_FAILED_VERIFICATION
            let message = error?.message ?? ""
            #expect(
                message
                    == "TLS: certificate of 127.0.0.1:\(server.port) not trusted (unable to get local issuer certificate)",
                "\(message)")
        }
    }

    @Test func anUnreadableCAFileStopsTheEngineFromStarting() throws {
        let missing = "/nonexistent/blobferry-ca.pem"
        #expect {
            _ = try engine(caFile: missing)
        } throws: { error in
            let message = (error as? HTTPError)?.message ?? ""
            return message.contains(missing) && message.contains("does not exist")
        }
        #expect {
            _ = try engine(caFile: NSTemporaryDirectory())
        } throws: { error in
            (error as? HTTPError)?.message.contains("is not a readable file") == true
        }
    }

    @Test func caFileComesFromTheSettingThenSSLCertFileThenCurl() throws {
        let pki = "/etc/ssl/certs/ca-certificates.crt"
        #expect(try EngineCore.caFile(configured: pki, environment: ["SSL_CERT_FILE": "/x"]) == pki)
        #expect(try EngineCore.caFile(configured: nil, environment: ["SSL_CERT_FILE": pki]) == pki)
        #expect(throws: HTTPError.self) { try EngineCore.caFile(configured: nil, environment: ["SSL_CERT_FILE": "/x"]) }
        // Debian's libcurl reports its built-in bundle.
        #expect(try EngineCore.caFile(configured: nil, environment: ["SSL_CERT_FILE": ""]) == pki)
        #expect(try EngineCore.caFile(configured: nil, environment: [:]) == pki)
    }

    /// 64 connections at once, all verified against the system bundle plus a private CA.
    /// Each new connection used to parse the whole bundle (about 140 certificates) again,
    /// because Debian's libcurl also has a CA directory set and curl caches the CA store
    /// only without one: about 20 ms of CPU per connection here. Now the store is parsed
    /// once per engine.
    @Test func manyNewConnectionsVerifyCheaply() async throws {
        let pki = try await TestPKI()
        let server = try TLSEchoServer(pki: pki)
        let engine = try engine(caFile: pki.bundleFile)
        let connections = 64
        let cpuBefore = engine.statistics.engineThreadCPUSeconds
        try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<connections {
                // /slow keeps every connection busy, so each request gets its own.
                group.addTask {
                    try await engine.execute(HTTPRequest(method: "GET", url: server.url("/slow/\(500 + index)"))).status
                }
            }
            for try await status in group { #expect(status == 200) }
        }
        let statistics = engine.statistics
        #expect(statistics.connectionsOpened == connections)
        let perConnection = (statistics.engineThreadCPUSeconds - cpuBefore) / Double(connections)
        #expect(perConnection < 0.006, "engine thread CPU per new TLS connection: \(perConnection * 1000) ms")
    }

    /// The CA file is read once per engine (curl's CA store cache), not once per
    /// connection: a connection opened after the file changed still uses the store read
    /// before.
    @Test func theCAFileIsReadOncePerEngine() async throws {
        let pki = try await TestPKI()
        let server = try TLSEchoServer(pki: pki)
        let caFile = pki.directory.appendingPathComponent("changing-ca.pem").path
        try FileManager.default.copyItem(atPath: pki.caFile, toPath: caFile)
        let engine = try self.engine(caFile: caFile)
        #expect(try await engine.execute(HTTPRequest(method: "GET", url: server.url("/close/1"))).status == 200)
        try FileManager.default.removeItem(atPath: caFile)
        try FileManager.default.copyItem(atPath: pki.otherCAFile, toPath: caFile)
        // Another host name for the same server: no TLS session to resume (sessions are
        // kept per host), so the server's certificate is verified again, with the store.
        let otherName = "https://localhost:\(server.port)/close/2"
        #expect(try await engine.execute(HTTPRequest(method: "GET", url: otherName)).status == 200)
        #expect(engine.statistics.connectionsOpened == 2)
        // A new engine reads the file again, and no longer trusts the server.
        let fresh = try self.engine(caFile: caFile)
        let error = await httpError { try await fresh.execute(HTTPRequest(method: "GET", url: server.url("/bytes/1"))) }
        #expect(error?.curlCode == 60)
    }
}

/// TLS sessions are shared by every connection of an engine (a curl share handle).
@Suite(.serialized)
struct HTTPEngineTLSSessionTests {
    /// Once one connection to a host has finished its handshake, later connections to that
    /// host offer its session (an abbreviated handshake: no certificate chain sent, parsed
    /// or verified again), not only the one that happens to get the same pooled easy
    /// handle: without the share handle exactly one of these connections resumed.
    /// Not all of them need to: curl offers the newest TLS 1.3 ticket to every connection,
    /// and a server may refuse a ticket that was already used (RFC 8446 asks clients not to
    /// reuse them; Python's server accepted 4 to 16 of 16 in a row), which costs a full
    /// handshake, never a failure.
    @Test func newConnectionsResumeTheSessionOfAnEarlierOne() async throws {
        let pki = try await TestPKI()
        let server = try TLSEchoServer(pki: pki)
        var configuration = HTTPEngineConfiguration()
        configuration.caBundlePath = pki.caFile
        let engine = try HTTPEngine(configuration: configuration)
        #expect(try await engine.execute(HTTPRequest(method: "GET", url: server.url("/close/first"))).status == 200)
        let parallel = 24
        try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<parallel {
                group.addTask {
                    try await engine.execute(HTTPRequest(method: "GET", url: server.url("/slow/\(1000 + index)")))
                        .status
                }
            }
            for try await status in group { #expect(status == 200) }
        }
        // Usually 24 new connections; on a starved machine a few transfers may start only
        // after others finished and reuse their connections. Each new one resumes.
        let opened = engine.statistics.connectionsOpened
        #expect(opened >= 4, "\(opened) connections")
        let stats = try await server.stats(engine)
        #expect(stats["tls_handshakes"] == opened)
        #expect((stats["tls_resumed"] ?? 0) >= 2, "\(stats)")
    }
}
