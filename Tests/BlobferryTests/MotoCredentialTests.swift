import BlobferryTestSupport
import Foundation
import Testing

@testable import Blobferry

#if canImport(Glibc)
    import Glibc
#endif

/// The AWS sources that need a real STS and IAM, against moto with authentication on
/// (SigV4 signatures, session tokens and policies checked): moto is the destination,
/// since the credentials its STS mints are valid only for its own S3. Each run copies
/// blobs with that source alone (no key in blobferry's settings) under the minimum
/// policy the README gives, and the bytes in moto's S3 are checked by MD5.
///
/// moto with authentication on refuses signatures of keys holding `+` or non-ASCII
/// characters (it re-encodes the path before checking), so these tests use plain names;
/// the shared moto (authentication off) covers awkward keys.
@Suite(.serialized)
struct MotoCredentialTests {
    /// The README's minimum policy for the destination (no SSE-KMS, no tags), plus
    /// `s3:HeadBucket`: AWS authorizes HEAD on a bucket as s3:ListBucket, moto asks for an
    /// action of that name.
    static let copyActions = [
        "s3:PutObject", "s3:GetObject", "s3:ListBucket", "s3:AbortMultipartUpload", "s3:HeadBucket",
    ]

    static func resources(_ bucket: String) -> [String] {
        ["arn:aws:s3:::\(bucket)", "arn:aws:s3:::\(bucket)/*"]
    }

    /// A job whose destination is a moto of its own (the harness checks with the admin key).
    static func harness(_ name: String) async throws -> (MigrationHarness, MotoServerProcess) {
        let moto = try MotoServerProcess()
        let harness = try await MigrationHarness(
            name: name,
            s3: .init(endpoint: moto.endpoint, accessKey: moto.adminAccessKey, secretKey: moto.adminSecretKey))
        return (harness, moto)
    }

    @Test func profileAssumeRoleThroughMotoSTS() async throws {
        let (harness, moto) = try await Self.harness("moto-assume-role")
        // The source profile's user may only assume the role: S3 refuses its own key.
        try moto.createUser("source", allowing: ["sts:AssumeRole"], on: ["*"])
        let source = try moto.createAccessKey("source")
        let role = try moto.createRole(
            "mover", trust: MotoServerProcess.trust(["AWS": "arn:aws:iam::\(MotoServerProcess.account):user/source"]),
            allowing: Self.copyActions, on: Self.resources(harness.bucket))
        let credentials = harness.logDirectory.appendingPathComponent("credentials").path
        try """
        [base]
        aws_access_key_id = \(source.id)
        aws_secret_access_key = \(source.secret)
        """.write(toFile: credentials, atomically: true, encoding: .utf8)
        let config = harness.logDirectory.appendingPathComponent("config").path
        try """
        [profile mover]
        role_arn = \(role)
        source_profile = base
        """.write(toFile: config, atomically: true, encoding: .utf8)
        #expect(moto.putStatus(bucket: harness.bucket, key: "probe", with: source) == "403")

        // One blob goes multipart (three parts): those requests carry the session token too.
        let large = try await harness.seed(["large-0"], size: { _ in 11 << 20 })
        let output = try await CredentialSourceTests.copy(
            harness,
            environment: [
                "AWS_PROFILE": "mover", "AWS_CONFIG_FILE": config, "AWS_SHARED_CREDENTIALS_FILE": credentials,
                "AWS_ENDPOINT_URL_STS": moto.endpoint, "BLOBFERRY_MULTIPART_THRESHOLD": String(8 << 20),
                "BLOBFERRY_PART_SIZE": String(5 << 20),
            ])
        #expect(output.contains("AWS credentials from profile 'mover' (AssumeRole \(role))"), "\(output)")
        #expect(!output.contains(source.secret))
        #expect(try await harness.mismatches(large).isEmpty)

        // The source profile alone may not write: one line naming where the credentials
        // came from, exit 3.
        let refused = try await harness.run(
            "blobferry-consumer", label: "consumer-source-profile",
            environment: CredentialSourceTests.noKeys.merging([
                "AWS_PROFILE": "base", "AWS_CONFIG_FILE": config, "AWS_SHARED_CREDENTIALS_FILE": credentials,
            ]) { _, new in new })
        #expect(refused.status == BlobferryError.Code.credentials.rawValue, "\(refused.output)")
        let lines = BadInputTests.errorLines(refused.output, program: "blobferry-consumer")
        #expect(
            lines.count == 1
                && lines.first?.contains(
                    "S3 rejected the credentials for destination bucket '\(harness.bucket)' (403 AccessDenied): check the AWS credentials from shared credentials file \(credentials) [base] and their IAM policy"
                ) == true, "\(refused.output)")
        let parts = try await harness.s3.headObject(key: "large-0")?.etag ?? ""
        #expect(
            parts.trimmingCharacters(in: CharacterSet(charactersIn: "\"")).hasSuffix("-3"),
            "ETag \(parts): not a three-part upload")
    }

    @Test func webIdentityThroughMotoSTS() async throws {
        let (harness, moto) = try await Self.harness("moto-web-identity")
        let role = try moto.createRole(
            "irsa",
            trust: MotoServerProcess.trust(
                ["Federated": "arn:aws:iam::\(MotoServerProcess.account):oidc-provider/oidc.eks.example"],
                action: "sts:AssumeRoleWithWebIdentity"),
            allowing: Self.copyActions, on: Self.resources(harness.bucket))
        let tokenFile = harness.logDirectory.appendingPathComponent("web-identity-token").path
        try "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6bW92ZXIifQ.c2lnbmF0dXJl\n".write(
            toFile: tokenFile, atomically: true, encoding: .utf8)
        // The consumer's first action is AssumeRoleWithWebIdentity (credentials are needed
        // before any S3 request), unsigned as AWS takes it; every S3 request is checked.
        try moto.allowUnauthenticatedActions(1)
        let output = try await CredentialSourceTests.copy(
            harness,
            environment: [
                "AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile, "AWS_ROLE_ARN": role,
                "AWS_ROLE_SESSION_NAME": "blobferry-test", "AWS_ENDPOINT_URL_STS": moto.endpoint,
            ])
        #expect(output.contains("AWS credentials from web identity (\(role))"), "\(output)")
        #expect(!output.contains("c2lnbmF0dXJl"), "the web identity token was printed")
    }

    /// moto does not enforce expiry, so refresh is proven by rotation: the container
    /// credentials stand-in serves an IAM user's key valid 3 s; mid-run a second key is
    /// created and served, and once the consumer has fetched it and every credential
    /// carrying the first has expired, the first is deleted. The copy goes on with the
    /// second key, every blob arrives, and the first key no longer works. The consumer is
    /// paused (SIGSTOP) while the test rotates, so a loaded machine's slow polling cannot
    /// let it finish first; its credentials keep expiring meanwhile.
    @Test func aKeyRotatedMidRunIsPickedUpByRefresh() async throws {
        let (harness, moto) = try await Self.harness("moto-rotation")
        try moto.createUser("mover", allowing: Self.copyActions, on: Self.resources(harness.bucket))
        let first = try moto.createAccessKey("mover")
        let keyFile = harness.logDirectory.appendingPathComponent("served-key").path
        try "\(first.id) \(first.secret)\n".write(toFile: keyFile, atomically: true, encoding: .utf8)
        let lifetime: TimeInterval = 3
        let server = try EchoServerProcess(
            script: "scripts/credential_endpoints.py", arguments: ["--aws-key-file", keyFile, "--lifetime", "3"])

        let count = 200
        let bodies = try await harness.seed((0..<count).map { "rotate-\($0)" })
        let producer = try await harness.run("blobferry-producer", label: "producer")
        #expect(producer.status == 0, "\(producer.output)")
        // At least 7 s of copying at 30 PUTs a second, pauses aside.
        let consumer = try harness.start(
            "blobferry-consumer", label: "consumer",
            environment: CredentialSourceTests.noKeys.merging([
                "AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url("/ecs/creds"),
                "AWS_CONTAINER_AUTHORIZATION_TOKEN": "stand-in-authorization",
                "BLOBFERRY_DEST_REQUESTS_PER_SECOND": "30",
                "BLOBFERRY_LEASE_SECONDS": "60",  // paused for seconds: its claims stay its own
            ]) { _, new in new })
        let served = { try await CredentialSourceTests.stats(server, harness.http)["container"] ?? 0 }
        let copied = { try await harness.redis("HGET", harness.keys.stats, "copied").int ?? 0 }
        try await harness.waitUntil("the first key copied something", timeout: 60) { try await copied() >= 5 }
        kill(consumer.pid, SIGSTOP)
        let copiedWithTheFirst = try await copied()
        let second = try moto.createAccessKey("mover")
        try "\(second.id) \(second.secret)\n".write(toFile: keyFile, atomically: true, encoding: .utf8)
        let rotated = Date()
        let servedBefore = try await served()
        kill(consumer.pid, SIGCONT)
        try await harness.waitUntil("the consumer fetched the second key", timeout: 60) {
            try await served() > servedBefore
        }
        kill(consumer.pid, SIGSTOP)
        // Every credential carrying the first key has expired, and what was sent with it
        // has been answered: delete it.
        let sinceRotation = Date().timeIntervalSince(rotated)
        try await Task.sleep(nanoseconds: UInt64((max(lifetime - sinceRotation, 0) + 1) * 1e9))
        try moto.deleteAccessKey("mover", first.id)
        let copiedBeforeDeletion = try await copied()
        kill(consumer.pid, SIGCONT)

        let status = try await consumer.exitStatus(timeout: 300)
        let output = harness.log("consumer")
        #expect(status == 0, "\(output)")
        #expect(
            copiedWithTheFirst > 0 && copiedBeforeDeletion < count, "\(copiedBeforeDeletion) copied: nothing proven")
        #expect(try await harness.mismatches(bodies).isEmpty)
        #expect(try await served() >= 2)
        #expect(!output.contains(first.secret) && !output.contains(second.secret))
        let probe = "probe-\(UUID().uuidString.prefix(6))"
        #expect(moto.putStatus(bucket: harness.bucket, key: probe, with: first) == "403", "the deleted key still works")
        #expect(moto.putStatus(bucket: harness.bucket, key: probe, with: second) == "200")
    }
}
