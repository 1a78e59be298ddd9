import BlobferryHTTP
import BlobferryTestSupport
import Foundation
import Testing

@testable import Blobferry

/// The network paths of real deployments, end to end with the real executables: a proxy
/// named by `HTTP_PROXY` / `HTTPS_PROXY` carries Azure and S3 traffic except for hosts in
/// `NO_PROXY` (`scripts/http_proxy.py` counts what went through it), and TLS in front of
/// the emulator and SeaweedFS (stunnel, a throwaway CA) is verified against the CA bundle
/// setting: the right CA copies everything, a wrong one stops with one line naming the
/// certificate problem and loses nothing.
@Suite(.serialized)
struct TransportTests {
    static func proxyStats(_ proxy: EchoServerProcess, _ http: HTTPEngine) async throws -> [String: Int] {
        let response = try await http.execute(HTTPRequest(method: "GET", url: proxy.url("/stats")))
        return (try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Int]) ?? [:]
    }

    /// `host:port` of a URL.
    static func authority(_ url: String) -> String {
        let components = URLComponents(string: url)
        return "\(components?.host ?? ""):\(components?.port ?? 0)"
    }

    /// Seeds `count` blobs and runs the producer and a consumer with `environment`; checks
    /// both exit 0 and every blob arrived; returns their output.
    @discardableResult
    static func migrate(_ harness: MigrationHarness, count: Int = 30, environment: [String: String]) async throws
        -> String
    {
        let bodies = try await harness.seed((0..<count).map { "transport-\($0)" })
        let producer = try await harness.run("blobferry-producer", label: "producer", environment: environment)
        #expect(producer.status == 0, "\(producer.output)")
        let consumer = try await harness.run("blobferry-consumer", label: "consumer", environment: environment)
        #expect(consumer.status == 0, "\(consumer.output)")
        #expect(try await harness.mismatches(bodies).isEmpty)
        return producer.output + consumer.output
    }

    @Test func httpProxyCarriesAzureAndS3ExceptNoProxyHosts() async throws {
        let proxy = try EchoServerProcess(script: "scripts/http_proxy.py")
        let harness = try await MigrationHarness(name: "proxy")
        // Upper case: curl alone ignores HTTP_PROXY; the AWS and Azure SDKs honour it.
        let output = try await Self.migrate(harness, environment: ["HTTP_PROXY": proxy.baseURL])
        #expect(output.contains("Azure requests through the proxy \(proxy.baseURL)\n"), "\(output)")
        #expect(output.contains("S3 requests through the proxy \(proxy.baseURL)\n"), "\(output)")
        let azure = Self.authority(harness.azureEndpoint)
        let s3 = Self.authority(harness.s3Endpoint)
        var stats = try await Self.proxyStats(proxy, harness.http)
        #expect(stats[azure] ?? 0 >= 30, "\(stats)")  // a listing and 30 GETs at least
        #expect(stats[s3] ?? 0 >= 30, "\(stats)")  // 30 PUTs at least

        // S3 by another name, in NO_PROXY: straight to SeaweedFS; Azure still proxied.
        let direct = try await MigrationHarness(name: "no-proxy")
        let s3ByName = direct.s3Endpoint.replacingOccurrences(of: "127.0.0.1", with: "localhost")
        let azureBefore = stats[azure] ?? 0
        try await Self.migrate(
            direct,
            environment: [
                "HTTP_PROXY": proxy.baseURL, "NO_PROXY": "localhost,169.254.169.254", "AWS_ENDPOINT_URL_S3": s3ByName,
            ])
        stats = try await Self.proxyStats(proxy, harness.http)
        #expect(stats[Self.authority(s3ByName)] == nil, "\(stats)")
        #expect(stats[azure] ?? 0 >= azureBefore + 30, "\(stats)")
    }

    @Test func proxiesComeFromEitherCaseAndLowerCaseWins() {
        let proxies = HTTPProxies.from(environment: [
            "HTTP_PROXY": "http://upper:3128", "https_proxy": "http://lower:3128", "HTTPS_PROXY": "http://upper:3128",
            "NO_PROXY": "localhost,.internal",
        ])
        #expect(proxies.proxy(for: "http://a/b") == "http://upper:3128")
        #expect(proxies.proxy(for: "https://a/b") == "http://lower:3128")
        #expect(proxies.noProxy == "localhost,.internal")
        let all = HTTPProxies.from(environment: ["ALL_PROXY": "http://all:3128", "http_proxy": ""])
        #expect(all.proxy(for: "http://a") == "http://all:3128" && all.proxy(for: "https://a") == "http://all:3128")
        #expect(HTTPProxies.from(environment: [:]) == HTTPProxies())
        #expect(HTTPProxies.redacted("http://user:pw@proxy:3128") == "http://proxy:3128")
        // Forms URLComponents does not parse, and curl's quoting of a proxy in its errors.
        #expect(HTTPProxies.redacted("user:pw@proxy:3128") == "proxy:3128")
        #expect(HTTPProxies.redacted("http://user:p@ss%@proxy:3128") == "http://proxy:3128")
        #expect(HTTPProxies.redacted("http://proxy:3128") == "http://proxy:3128")
        #expect(
            HTTPProxies.withoutUserInfo("Unsupported proxy syntax in 'socks9://u:secret@proxy:1'")
                == "Unsupported proxy syntax in 'socks9://proxy:1'")
    }

    /// TLS in front of both stores, reached through HTTPS_PROXY (CONNECT): the right CA
    /// (AWS_CA_BUNDLE, the ca_bundle setting's default) copies everything; a wrong one is
    /// one line naming the certificate problem, exit 5 at once (no retries), and the queue
    /// is intact.
    @Test func tlsToBothStoresVerifiedAgainstTheCABundle() async throws {
        let pki = try await TestPKI()
        let proxy = try EchoServerProcess(script: "scripts/http_proxy.py")
        let harness = try await MigrationHarness(name: "tls-e2e")
        let azurePlain = try #require(URLComponents(string: harness.azureEndpoint))
        let s3Plain = try #require(URLComponents(string: harness.s3Endpoint))
        let azureTLS = try TLSTerminator(pki: pki, target: try #require(azurePlain.port))
        let s3TLS = try TLSTerminator(pki: pki, target: try #require(s3Plain.port))
        let tls = [
            "BLOBFERRY_SOURCE_ENDPOINT": azureTLS.baseURL + azurePlain.path, "AWS_ENDPOINT_URL_S3": s3TLS.baseURL,
            "HTTPS_PROXY": proxy.baseURL,
        ]
        try await Self.migrate(harness, environment: tls.merging(["AWS_CA_BUNDLE": pki.caFile]) { _, new in new })
        let stats = try await Self.proxyStats(proxy, harness.http)
        #expect(stats["CONNECT 127.0.0.1:\(azureTLS.port)"] ?? 0 >= 1, "\(stats)")
        #expect(stats["CONNECT 127.0.0.1:\(s3TLS.port)"] ?? 0 >= 1, "\(stats)")

        // A wrong CA: the producer lists with the right one, the consumer has the wrong one.
        let wrong = try await MigrationHarness(name: "tls-wrong-ca")
        _ = try await wrong.seed((0..<10).map { "wrong-ca-\($0)" })
        let producer = try await wrong.run(
            "blobferry-producer", label: "producer",
            environment: tls.merging(["AWS_CA_BUNDLE": pki.caFile]) { _, new in new })
        #expect(producer.status == 0, "\(producer.output)")
        let consumer = try await wrong.run(
            "blobferry-consumer", label: "consumer",
            environment: tls.merging(["BLOBFERRY_CA_BUNDLE": pki.otherCAFile, "BLOBFERRY_LOG_LEVEL": "debug"]) {
                _, new in new
            }, timeout: 120)
        #expect(consumer.status == BlobferryError.Code.unreachable.rawValue, "\(consumer.output)")
        #expect(!consumer.output.contains("; retry 1 in"), "a certificate problem was retried: \(consumer.output)")
        let lines = BadInputTests.errorLines(consumer.output, program: "blobferry-consumer")
        #expect(lines.count == 1, "\(consumer.output)")
        #expect(
            lines.first?.contains(
                "TLS: certificate of 127.0.0.1:\(azureTLS.port) not trusted (unable to get local issuer certificate)")
                == true, "\(consumer.output)")
        let status = try await wrong.status()
        #expect(status.queued == 10 && status.copied == 0, "\(status)")
    }
}
