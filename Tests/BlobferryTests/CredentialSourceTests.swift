import BlobferryCrypto
import BlobferryHTTP
import BlobferryTestSupport
import Foundation
import Testing

@testable import Blobferry

/// Each credential source copies real blobs with no key in blobferry's settings: AWS ones
/// to SeaweedFS (SigV4 enforced), Azure ones from the emulator (which accepts only bearer
/// tokens the stand-in authority minted, and refuses expired ones), against local stand-ins
/// for the container credentials, instance metadata, Entra ID and managed identity
/// endpoints (`scripts/credential_endpoints.py`); temporary credentials are refreshed
/// before they expire; a failing source is one line and exit 3.
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
            "--lifetime", String(lifetime), "--azure-key", harness.azureKey,
        ]
        if fail { arguments.append("--fail") }
        return try EchoServerProcess(script: "scripts/credential_endpoints.py", arguments: arguments)
    }

    static func stats(_ server: EchoServerProcess, _ http: HTTPEngine) async throws -> [String: Int] {
        let response = try await http.execute(HTTPRequest(method: "GET", url: server.url("/stats")))
        return (try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Int]) ?? [:]
    }

    /// Seeds `count` blobs, lists them, runs one consumer with `environment` (the producer
    /// too when `producerToo`); checks every blob arrived and no secret was printed;
    /// returns the consumer's output.
    static func copy(
        _ harness: MigrationHarness, count: Int = 30, environment: [String: String], producerToo: Bool = false,
        unset: [String: String] = noKeys
    ) async throws -> String {
        let bodies = try await harness.seed((0..<count).map { "cred-\($0)" })
        let settings = unset.merging(environment) { _, new in new }.merging(["BLOBFERRY_LOG_LEVEL": "trace"]) {
            _, new in new
        }
        let producer = try await harness.run(
            "blobferry-producer", label: "producer", environment: producerToo ? settings : [:])
        #expect(producer.status == 0, "\(producer.output)")
        let consumer = try await harness.run("blobferry-consumer", label: "consumer", environment: settings)
        #expect(consumer.status == 0, "\(consumer.output)")
        #expect(try await harness.mismatches(bodies).isEmpty)
        for output in [producer.output, consumer.output] {
            #expect(!output.contains(harness.s3Target.secretKey))
            #expect(!output.contains(harness.azureKey))
            #expect(!output.contains("stand-in-client-secret"))
            #expect(!output.contains("bf1."), "a bearer token was printed")
        }
        return producer.output + consumer.output
    }

    /// No Azure key in the settings: an Entra ID token has to be found.
    static let noAzureKey = ["AZURE_STORAGE_KEY": ""]

    @Test func entraClientSecretTokensAreRefreshedBeforeTheyExpire() async throws {
        let harness = try await MigrationHarness(name: "cred-entra")
        // Tokens valid 4 s (the emulator refuses expired ones), a run of several seconds.
        let server = try Self.standIn(harness, lifetime: 4)
        let output = try await Self.copy(
            harness, count: 240,
            environment: [
                "AZURE_TENANT_ID": "tenant-1", "AZURE_CLIENT_ID": "client-1",
                "AZURE_CLIENT_SECRET": "stand-in-client-secret", "AZURE_AUTHORITY_HOST": server.baseURL,
                "BLOBFERRY_SOURCE_REQUESTS_PER_SECOND": "40",
            ], producerToo: true, unset: Self.noAzureKey)
        #expect(output.contains("Azure credentials from Entra ID client secret"), "\(output)")
        let served = try await Self.stats(server, harness.http)["entra"] ?? 0
        #expect(served >= 4, "tokens fetched \(served) times in runs longer than two lifetimes")
    }

    @Test func entraWorkloadIdentity() async throws {
        let harness = try await MigrationHarness(name: "cred-workload")
        let server = try Self.standIn(harness)
        let file = harness.logDirectory.appendingPathComponent("federated-token").path
        try "stand-in-client-secret\n".write(toFile: file, atomically: true, encoding: .utf8)
        let output = try await Self.copy(
            harness,
            environment: [
                "AZURE_TENANT_ID": "tenant-1", "AZURE_CLIENT_ID": "client-1", "AZURE_FEDERATED_TOKEN_FILE": file,
                "AZURE_AUTHORITY_HOST": server.baseURL + "/",
            ], producerToo: true, unset: Self.noAzureKey)
        #expect(output.contains("Azure credentials from workload identity"), "\(output)")
        #expect(try await Self.stats(server, harness.http)["entra-assertion"] ?? 0 >= 2)
    }

    @Test func managedIdentityOnAppServiceAndByInstanceMetadata() async throws {
        let harness = try await MigrationHarness(name: "cred-msi")
        let server = try Self.standIn(harness)
        let output = try await Self.copy(
            harness,
            environment: [
                "IDENTITY_ENDPOINT": server.url("/msi/token"), "IDENTITY_HEADER": "stand-in-authorization",
            ], producerToo: true, unset: Self.noAzureKey)
        #expect(output.contains("Azure credentials from managed identity (http"), "\(output)")
        #expect(!output.contains("stand-in-authorization"))

        let imds = try await MigrationHarness(name: "cred-azure-imds")
        let imdsServer = try Self.standIn(imds)
        let imdsOutput = try await Self.copy(
            imds, environment: ["AZURE_POD_IDENTITY_AUTHORITY_HOST": imdsServer.baseURL], producerToo: true,
            unset: Self.noAzureKey)
        #expect(imdsOutput.contains("Azure credentials from managed identity (instance metadata"), "\(imdsOutput)")
        #expect(try await Self.stats(imdsServer, imds.http)["azure-imds"] ?? 0 >= 2)
    }

    @Test func aRefusedClientSecretIsOneLineAndExitThree() async throws {
        let harness = try await MigrationHarness(name: "cred-entra-refused")
        let server = try Self.standIn(harness)
        let run = try await harness.run(
            "blobferry-producer", label: "producer",
            environment: Self.noAzureKey.merging([
                "AZURE_TENANT_ID": "tenant-1", "AZURE_CLIENT_ID": "client-1",
                "AZURE_CLIENT_SECRET": "not-the-client-secret", "AZURE_AUTHORITY_HOST": server.baseURL,
            ]) { _, new in new })
        #expect(run.status == BlobferryError.Code.credentials.rawValue, "\(run.output)")
        let lines = BadInputTests.errorLines(run.output, program: "blobferry-producer")
        #expect(lines.count == 1, "\(run.output)")
        #expect(lines.first?.contains("Azure credentials: Entra ID token endpoint") == true, "\(run.output)")
        #expect(lines.first?.contains("401") == true, "\(run.output)")
        #expect(!run.output.contains("not-the-client-secret"))
    }

    /// A bearer token the authority did not mint is refused by the emulator (so the tests
    /// above prove the tokens were used, not ignored).
    @Test func theEmulatorRefusesAForgedBearerToken() async throws {
        let harness = try await MigrationHarness(name: "cred-forged")
        let client = try AzureBlobClient(
            endpoint: harness.azureEndpoint, container: harness.container,
            signer: AzureBearerSigner(
                tokens: RefreshingCredentials(sourceName: "forged") {
                    (Secret("bf1.9999999999.forged"), nil)
                }), http: harness.http)
        let error = await captureRemoteError { _ = try await client.listBlobs(prefix: "", marker: nil, maxResults: 1) }
        #expect(error?.status == 401, "\(String(describing: error))")
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

    @Test func webIdentityThroughSTS() async throws {
        let harness = try await MigrationHarness(name: "cred-web-identity")
        let server = try Self.standIn(harness)
        let tokenFile = harness.logDirectory.appendingPathComponent("web-identity-token").path
        try "stand-in-web-identity-token\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let output = try await Self.copy(
            harness,
            environment: [
                "AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile, "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/mover",
                "AWS_ROLE_SESSION_NAME": "blobferry-test", "AWS_ENDPOINT_URL_STS": server.url("/sts"),
            ])
        #expect(
            output.contains("AWS credentials from web identity (arn:aws:iam::123456789012:role/mover)"), "\(output)")
        #expect(!output.contains("stand-in-web-identity-token"))
        #expect(try await Self.stats(server, harness.http)["sts-AssumeRoleWithWebIdentity"] ?? 0 >= 1)

        try "a-token-sts-refuses\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let refused = try await harness.run(
            "blobferry-consumer", label: "consumer-refused",
            environment: Self.noKeys.merging([
                "AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile, "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/mover",
                "AWS_ENDPOINT_URL_STS": server.url("/sts"),
            ]) { _, new in new })
        #expect(refused.status == BlobferryError.Code.credentials.rawValue, "\(refused.output)")
        let lines = BadInputTests.errorLines(refused.output, program: "blobferry-consumer")
        #expect(lines.count == 1 && lines.first?.contains("InvalidIdentityToken") == true, "\(refused.output)")
        #expect(!refused.output.contains("a-token-sts-refuses"))
    }

    @Test func profileAssumeRoleWithASourceProfile() async throws {
        let harness = try await MigrationHarness(name: "cred-assume-role")
        let server = try Self.standIn(harness)
        let credentials = harness.logDirectory.appendingPathComponent("credentials").path
        try """
        [base]
        aws_access_key_id = AKIDSOURCEPROFILE
        aws_secret_access_key = source-profile-secret
        """.write(toFile: credentials, atomically: true, encoding: .utf8)
        let config = harness.logDirectory.appendingPathComponent("config").path
        try """
        [profile mover]
        role_arn = arn:aws:iam::123456789012:role/mover
        source_profile = base
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let output = try await Self.copy(
            harness,
            environment: [
                "AWS_PROFILE": "mover", "AWS_CONFIG_FILE": config, "AWS_SHARED_CREDENTIALS_FILE": credentials,
                "AWS_ENDPOINT_URL_STS": server.url("/sts"),
            ])
        #expect(output.contains("AWS credentials from profile 'mover' (AssumeRole"), "\(output)")
        #expect(!output.contains("source-profile-secret"))
        #expect(try await Self.stats(server, harness.http)["sts-AssumeRole"] ?? 0 >= 1)
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

/// One CA bundle for both sides: `ca_bundle`, defaulting to `AWS_CA_BUNDLE`, reaches the
/// HTTP engine (whose verification against it HTTPEngineTLSTests proves); an unreadable
/// one stops the start as a configuration error.
struct CABundleSettingTests {
    @Test func awsCABundleIsTheDefaultAndTheSettingWins() throws {
        let bundle = TestEnvironment.path("Package.swift")
        let fromAWS = try SettingsLoader.load(configPath: nil, environment: ["AWS_CA_BUNDLE": bundle])
        #expect(fromAWS.caBundle == bundle)
        let both = try SettingsLoader.load(
            configPath: nil, environment: ["AWS_CA_BUNDLE": "/nonexistent/aws.pem", "BLOBFERRY_CA_BUNDLE": bundle])
        #expect(both.caBundle == bundle)
        #expect(try SettingsLoader.load(configPath: nil, environment: [:]).caBundle == "")
    }

    @Test func theEngineUsesTheBundleAndRefusesAnUnreadableOne() throws {
        let pem = FileManager.default.temporaryDirectory.appendingPathComponent("bf-ca-\(UUID().uuidString).pem").path
        try "".write(toFile: pem, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: pem) }
        let engine = try Runtime.httpEngine(connections: 1, caBundle: pem)
        #expect(engine.caBundlePath == pem)
        engine.shutdown()
        do {
            _ = try Runtime.httpEngine(connections: 1, caBundle: "/nonexistent/ca.pem")
            Issue.record("an unreadable CA bundle was accepted")
        } catch let error as BlobferryError {
            #expect(error.code == .configuration)
            #expect(error.message.contains("ca_bundle"))
        }
    }
}
