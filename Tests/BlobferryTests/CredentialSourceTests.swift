import BlobferryCrypto
import BlobferryHTTP
import BlobferryTestSupport
import Foundation
import Testing

@testable import Blobferry

/// Each AWS credential source copies real blobs to SeaweedFS (SigV4 enforced) with no key
/// in blobferry's settings, against local stand-ins for the container credentials and
/// instance metadata endpoints (`scripts/credential_endpoints.py`); temporary credentials
/// are refreshed before they expire; a failing source is one line and exit 3.
@Suite(.serialized)
struct CredentialSourceTests {
    /// No key in the settings: the chain has to find one.
    static let noKeys = ["AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""]

    /// The stand-in serves SeaweedFS's static keys without a session token: SeaweedFS
    /// refuses a token it did not issue.
    static func standIn(_ harness: MigrationHarness, lifetime: Int = 3600, fail: Bool = false) throws
        -> EchoServerProcess
    {
        var arguments = [
            "--aws-access-key", harness.s3Target.accessKey, "--aws-secret-key", harness.s3Target.secretKey,
            "--lifetime", String(lifetime),
        ]
        if fail { arguments.append("--fail") }
        return try EchoServerProcess(script: "scripts/credential_endpoints.py", arguments: arguments)
    }

    static func stats(_ server: EchoServerProcess, _ http: HTTPEngine) async throws -> [String: Int] {
        let response = try await http.execute(HTTPRequest(method: "GET", url: server.url("/stats")))
        return (try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Int]) ?? [:]
    }

    /// Seeds `count` blobs, lists them, runs one consumer with `environment`; checks every
    /// blob arrived and no secret was printed; returns the consumer's output.
    static func copy(
        _ harness: MigrationHarness, count: Int = 30, environment: [String: String], label: String = "consumer"
    ) async throws -> String {
        let bodies = try await harness.seed((0..<count).map { "cred-\($0)" })
        let producer = try await harness.run("blobferry-producer", label: "producer")
        #expect(producer.status == 0, "\(producer.output)")
        let consumer = try await harness.run(
            "blobferry-consumer", label: label,
            environment: noKeys.merging(environment) { _, new in new }.merging(["BLOBFERRY_LOG_LEVEL": "trace"]) {
                _, new in new
            })
        #expect(consumer.status == 0, "\(consumer.output)")
        #expect(try await harness.mismatches(bodies).isEmpty)
        #expect(!consumer.output.contains(harness.s3Target.secretKey))
        return consumer.output
    }

    @Test func containerCredentialsAreRefreshedBeforeTheyExpire() async throws {
        let harness = try await MigrationHarness(name: "cred-container")
        // Credentials valid 4 s, a run of several seconds (40 PUTs a second for 240 blobs).
        let server = try Self.standIn(harness, lifetime: 4)
        let output = try await Self.copy(
            harness, count: 240,
            environment: [
                "AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url("/ecs/creds"),
                "AWS_CONTAINER_AUTHORIZATION_TOKEN": "stand-in-authorization",
                "BLOBFERRY_DEST_REQUESTS_PER_SECOND": "40",
            ])
        #expect(output.contains("AWS credentials from container credentials"), "\(output)")
        #expect(!output.contains("stand-in-authorization"))
        let served = try await Self.stats(server, harness.http)["container"] ?? 0
        #expect(served >= 3, "credentials fetched \(served) times in a run longer than two lifetimes")
    }

    @Test func containerCredentialsWithATokenFile() async throws {
        let harness = try await MigrationHarness(name: "cred-token-file")
        let server = try Self.standIn(harness)
        let tokenFile = harness.logDirectory.appendingPathComponent("token").path
        try "stand-in-authorization\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let output = try await Self.copy(
            harness,
            environment: [
                "AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url("/ecs/creds"),
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": tokenFile,
            ])
        #expect(output.contains("AWS credentials from container credentials"), "\(output)")
    }

    @Test func instanceMetadataWithIMDSv2() async throws {
        let harness = try await MigrationHarness(name: "cred-imds")
        let server = try Self.standIn(harness)
        let output = try await Self.copy(
            harness,
            environment: ["AWS_EC2_METADATA_DISABLED": "false", "AWS_EC2_METADATA_SERVICE_ENDPOINT": server.baseURL])
        #expect(output.contains("AWS credentials from EC2 instance metadata"), "\(output)")
        #expect(try await Self.stats(server, harness.http)["imds"] ?? 0 >= 1)
    }

    @Test func sharedCredentialsFileProfile() async throws {
        let harness = try await MigrationHarness(name: "cred-profile")
        let file = harness.logDirectory.appendingPathComponent("credentials").path
        try """
        [default]
        aws_access_key_id = AKIDNOTTHISONE
        aws_secret_access_key = not-this-one

        [blobferry]
        aws_access_key_id = \(harness.s3Target.accessKey)
        aws_secret_access_key = \(harness.s3Target.secretKey)
        """.write(toFile: file, atomically: true, encoding: .utf8)
        let output = try await Self.copy(
            harness, environment: ["AWS_PROFILE": "blobferry", "AWS_SHARED_CREDENTIALS_FILE": file])
        #expect(output.contains("AWS credentials from shared credentials file"), "\(output)")
    }

    @Test func credentialProcessOfAConfigProfile() async throws {
        let harness = try await MigrationHarness(name: "cred-process")
        let json = harness.logDirectory.appendingPathComponent("process.json").path
        try """
        {"Version": 1, "AccessKeyId": "\(harness.s3Target.accessKey)", "SecretAccessKey": "\(harness.s3Target.secretKey)"}
        """.write(toFile: json, atomically: true, encoding: .utf8)
        let config = harness.logDirectory.appendingPathComponent("config").path
        try """
        [profile mover]
        region = us-east-1
        credential_process = cat \(json)
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let output = try await Self.copy(
            harness,
            environment: [
                "AWS_PROFILE": "mover", "AWS_CONFIG_FILE": config,
                "AWS_SHARED_CREDENTIALS_FILE": harness.logDirectory.appendingPathComponent("none").path,
            ])
        #expect(output.contains("AWS credentials from credential_process of profile 'mover'"), "\(output)")
    }

    @Test func aFailingSourceIsOneLineAndExitThree() async throws {
        let harness = try await BadInputTests.queuedJob("cred-failing", count: 5)
        let server = try Self.standIn(harness, fail: true)
        let run = try await harness.run(
            "blobferry-consumer", label: "consumer",
            environment: Self.noKeys.merging([
                "AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url("/ecs/creds"),
                "AWS_CONTAINER_AUTHORIZATION_TOKEN": "stand-in-authorization",
            ]) { _, new in new })
        #expect(run.status == BlobferryError.Code.credentials.rawValue, "\(run.output)")
        let lines = BadInputTests.errorLines(run.output, program: "blobferry-consumer")
        #expect(lines.count == 1, "\(run.output)")
        #expect(lines.first?.contains("AWS credentials: container credentials endpoint") == true, "\(run.output)")
        #expect(!run.output.contains("stand-in-authorization"))
        #expect(try await harness.status().queued == 5)

        let none = try await harness.run("blobferry-consumer", label: "consumer-none", environment: Self.noKeys)
        #expect(none.status == BlobferryError.Code.credentials.rawValue, "\(none.output)")
        #expect(
            BadInputTests.errorLines(none.output, program: "blobferry-consumer").first?.contains(
                "no AWS credentials found") == true, "\(none.output)")
    }

    /// The cache in isolation: a source whose values live 0.4 s, asked continuously for
    /// 2 s, never hands out an expired value and refreshes ahead of expiry.
    @Test func refreshingCredentialsNeverServeAnExpiredValue() async throws {
        let provider = RefreshingCredentials<Date>(sourceName: "short-lived") {
            let expiry = Date().addingTimeInterval(0.4)
            return (expiry, expiry)
        }
        let end = Date().addingTimeInterval(2)
        while Date() < end {
            let expiry = try await provider.value()
            #expect(expiry > Date())
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        #expect(await provider.fetches >= 4)
    }
}
