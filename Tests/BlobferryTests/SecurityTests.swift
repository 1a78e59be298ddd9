import BlobferryCrypto
import BlobferryRedis
import BlobferryTestSupport
import Foundation
import Testing

@testable import Blobferry

/// Security basics with the real executables: a Redis ACL user confined to the job's keys,
/// Redis over TLS through a stunnel client, and no secret in any log or output even at
/// trace level and on error paths.
@Suite(.serialized)
struct SecurityTests {
    // MARK: - Redis ACL

    /// The README's command: a user that may touch only `blobferry:<job>:*`.
    static func aclSetUser(_ user: String, password: String, job: String) -> [RedisArgument] {
        [
            "ACL", "SETUSER", RedisArgument(user), "on", RedisArgument(">" + password),
            RedisArgument("~blobferry:\(job):*"), "+@all", "-@dangerous",
        ]
    }

    @Test func aclUserConfinedToTheJobPrefixMigratesAndCannotLeaveIt() async throws {
        let adminPassword = "admin-" + UUID().uuidString
        let userPassword = "user-" + UUID().uuidString
        let server = try RedisServerProcess(password: adminPassword)  // the default user is not open
        let harness = try await MigrationHarness(
            name: "acl", redis: server, redisURL: server.url(username: "bf-acl", password: userPassword, database: 0))
        let admin = try Self.connect(server.url)
        _ = try admin.send(Self.aclSetUser("bf-acl", password: userPassword, job: harness.job))

        let expected = try await harness.seed((0..<40).map { "acl/\($0)" } + ["_other/x", "Zed"])
        let producer = try await harness.run("blobferry-producer", label: "producer")
        #expect(producer.status == 0, "\(producer.output)")
        let consumer = try await harness.run("blobferry-consumer", label: "consumer")
        #expect(consumer.status == 0, "\(consumer.output)")
        #expect(try await harness.mismatches(expected) == [])
        let status = try await harness.status()
        #expect(status.complete && status.copied == expected.count && status.failed == 0)

        // The same user on another job: the producer and the consumer stop with one line
        // about permissions; `status` does not yet (known issue, reported).
        let environment = ["BLOBFERRY_JOB": "outside-" + harness.job]
        for program in ["blobferry-producer", "blobferry-consumer"] {
            let run = try await harness.run(program, label: "\(program)-outside", environment: environment, timeout: 60)
            Self.expectPermissionFailure(run, program: program, password: userPassword)
        }
        let statusRun = try await harness.run(
            "blobferry", ["status"], label: "status-outside", environment: environment)
        Self.expectPermissionFailure(statusRun, program: "blobferry status", password: userPassword)
        #expect(statusRun.status == BlobferryError.Code.credentials.rawValue)

        // Nothing was written outside the job's prefix (scripts included).
        let keys = try Self.allKeys(admin)
        #expect(!keys.isEmpty)
        #expect(keys.filter { !$0.hasPrefix("blobferry:\(harness.job):") } == [])
    }

    /// A run that stopped with exactly one line about permissions, without the password.
    static func expectPermissionFailure(_ run: (status: Int32, output: String), program: String, password: String) {
        #expect(run.status != 0, "\(run.output)")
        let lines = run.output.split(separator: "\n").filter { $0.hasPrefix("\(program):") }
        #expect(lines.count == 1, "\(run.output)")
        #expect(lines.first.map { $0.contains("NOPERM") || $0.lowercased().contains("permission") } == true)
        #expect(!run.output.contains(password))
    }

    // MARK: - TLS through stunnel

    @Test func redisOverTLSThroughAStunnelClient() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bf-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let cert = directory.appendingPathComponent("cert.pem").path
        let key = directory.appendingPathComponent("key.pem").path
        let openssl = try LocalProcess(
            "openssl",
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
                "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            ],
            logFile: directory.appendingPathComponent("openssl.log").path)
        #expect(try await openssl.exitStatus(timeout: 30) == 0)

        let tlsPort = try LoopbackPort.free()
        let redis = try LocalProcess(
            "redis-server",
            [
                "--port", "0", "--tls-port", String(tlsPort), "--bind", "127.0.0.1", "--save", "",
                "--dir", directory.path, "--tls-cert-file", cert, "--tls-key-file", key,
                "--tls-ca-cert-file", cert, "--tls-auth-clients", "no",
            ],
            logFile: directory.appendingPathComponent("redis.log").path)
        defer { redis.stop() }
        try LoopbackPort.waitUntilOpen(tlsPort)

        let tunnelPort = try LoopbackPort.free()
        let config = directory.appendingPathComponent("stunnel.conf")
        try Self.stunnelConfig(accept: tunnelPort, connect: tlsPort, caFile: cert).write(
            to: config, atomically: true, encoding: .utf8)
        let stunnelLog = directory.appendingPathComponent("stunnel.log").path
        let stunnel = try LocalProcess("stunnel", [config.path], logFile: stunnelLog)
        defer { stunnel.stop() }
        try LoopbackPort.waitUntilOpen(tunnelPort)

        let harness = try await MigrationHarness(name: "tls", redisURL: "redis://127.0.0.1:\(tunnelPort)/0")
        let expected = try await harness.seed((0..<30).map { "tls/\($0)" })
        let producer = try await harness.run("blobferry-producer", label: "producer")
        #expect(producer.status == 0, "\(producer.output)")
        let consumer = try await harness.run("blobferry-consumer", label: "consumer")
        #expect(consumer.status == 0, "\(consumer.output)")
        #expect(try await harness.mismatches(expected) == [])
        #expect(try await harness.status().complete)

        // The traffic really was TLS: stunnel verified the server, and plain RESP to the
        // TLS port gets nowhere.
        let log = (try? String(contentsOfFile: stunnelLog, encoding: .utf8)) ?? ""
        #expect(log.contains("Certificate accepted"), "\(log)")
        #expect(throws: RedisError.self) {
            let plain = try Self.connect("redis://127.0.0.1:\(tlsPort)/0")
            _ = try plain.send("PING")
        }
        let tunnelled = try Self.allKeys(Self.connect(harness.redisURL))
        #expect(!tunnelled.isEmpty && tunnelled.allSatisfy { $0.hasPrefix("blobferry:\(harness.job):") })
        #expect(try Self.allKeys(Self.connect(harness.redis.url)) == [])  // the harness's plain server saw nothing
    }

    /// The stunnel client configuration the README shows, verifying the server's
    /// certificate against `caFile`.
    static func stunnelConfig(accept: Int, connect: Int, caFile: String) -> String {
        """
        foreground = yes
        pid =
        [redis]
        client = yes
        accept = 127.0.0.1:\(accept)
        connect = 127.0.0.1:\(connect)
        verifyChain = yes
        CAfile = \(caFile)
        checkIP = 127.0.0.1

        """
    }

    // MARK: - No secrets in output

    static let credentialsRejected = BlobferryError.Code.credentials.rawValue

    @Test func noSecretInAnyLogOrOutput() async throws {
        let accountKey = Base64Key.random()
        let emulator = try AzureEmulatorProcess(latencyMs: 40, key: accountKey)
        let redisPassword = "redis/pw+" + UUID().uuidString
        let server = try RedisServerProcess(password: redisPassword)
        let harness = try await MigrationHarness(name: "secrets", emulator: emulator, redis: server)
        let expected = try await harness.seed((0..<60).map { "s\($0)" })

        let expiry = Date().addingTimeInterval(3600)
        let sas = try AzureSAS.serviceSAS(
            account: emulator.account, base64Key: accountKey, container: harness.container, blob: nil,
            permissions: "rl", start: nil, expiry: expiry, version: AzureSAS.defaultVersion, protocols: nil)
        let foreignSAS = try AzureSAS.accountSAS(
            account: emulator.account, base64Key: Base64Key.random(), services: "b", resourceTypes: "sco",
            permissions: "rl", start: nil, expiry: expiry, version: AzureSAS.defaultVersion, protocols: nil)
        let s3Secret = try TestEnvironment.value("BLOBFERRY_TEST_S3_SECRET_KEY")
        let wrongS3Secret = "wrong-s3-secret-" + UUID().uuidString
        let wrongRedisPassword = "wrong-redis-" + UUID().uuidString
        let secrets = Self.forms([
            "account key": accountKey, "SAS signature": try Self.signature(of: sas),
            "foreign SAS signature": try Self.signature(of: foreignSAS), "AWS secret": s3Secret,
            "wrong AWS secret": wrongS3Secret, "Redis password": redisPassword,
            "wrong Redis password": wrongRedisPassword,
        ])

        // The scanner finds a planted secret, decoded or percent-encoded.
        let planted = "GET /c?\(sas) failed"
        #expect(
            Self.leaks(in: ["planted": planted], secrets: secrets).contains { $0.hasPrefix("planted: SAS signature") })
        #expect(
            Self.leaks(in: ["planted": "sig \(try Self.signature(of: sas))"], secrets: secrets) == [
                "planted: SAS signature"
            ])
        #expect(Self.leaks(in: ["planted": "AUTH \(redisPassword)"], secrets: secrets) == ["planted: Redis password"])

        var outputs: [String: String] = [:]
        let trace = ["BLOBFERRY_LOG_LEVEL": "trace"]
        func run(
            _ label: String, _ program: String, _ arguments: [String] = [], _ environment: [String: String] = [:],
            status: Int32
        ) async throws {
            let result = try await harness.run(
                program, arguments, label: label, environment: environment.merging(trace) { old, _ in old },
                timeout: 120)
            #expect(result.status == status, "\(label): \(result.output)")
            outputs[label] = result.output
        }
        let withSAS = ["AZURE_STORAGE_KEY": "", "AZURE_STORAGE_SAS_TOKEN": sas]
        try await run("producer-sas", "blobferry-producer", [], withSAS, status: 0)
        try await run(
            "consumer-foreign-sas", "blobferry-consumer", [],
            ["AZURE_STORAGE_KEY": "", "AZURE_STORAGE_SAS_TOKEN": foreignSAS], status: Self.credentialsRejected)
        try await run(
            "consumer-wrong-s3", "blobferry-consumer", [],
            withSAS.merging(["AWS_SECRET_ACCESS_KEY": wrongS3Secret]) { _, new in new },
            status: Self.credentialsRejected)

        // Injected 503s on GETs once the consumer is past its start-up checks (which do not
        // retry a 503), so retries and their errors are logged at debug level.
        let consumer = try harness.start(
            "blobferry-consumer", label: "consumer-sas",
            environment: withSAS.merging(trace) { old, _ in old }.merging([
                "BLOBFERRY_CONCURRENCY": "2", "BLOBFERRY_MAX_ATTEMPTS": "12",
            ]) { _, new in new })
        try await harness.waitUntil("the consumer is copying", timeout: 30) {
            harness.log("consumer-sas").contains("copying with")
        }
        try emulator.configure(failRate: 0.25, failMethods: ["GET"])
        #expect(try await consumer.exitStatus(timeout: 120) == 0, "\(harness.log("consumer-sas"))")
        try emulator.configure(failRate: 0)
        outputs["consumer-sas"] = harness.log("consumer-sas")
        #expect(try await harness.mismatches(expected) == [])

        try await run("status", "blobferry", ["status", "--failed", "10"], status: 0)
        try await run("status-json", "blobferry", ["status", "--json"], status: 0)
        try await run("verify-sas", "blobferry", ["verify"], withSAS, status: 0)
        try await run(
            "status-wrong-redis", "blobferry", ["status"],
            ["BLOBFERRY_REDIS_URL": server.url(password: wrongRedisPassword, database: 0)],
            status: Self.credentialsRejected)

        // The account key, directly and in a connection string.
        let added = try await harness.seed((0..<10).map { "k\($0)" })
        try await run("producer-key", "blobferry-producer", status: 0)
        try await run("consumer-key", "blobferry-consumer", status: 0)
        #expect(try await harness.mismatches(added) == [])
        let connectionString = ["AZURE_STORAGE_KEY": "", "AZURE_STORAGE_CONNECTION_STRING": emulator.connectionString]
        try await run("verify-connection-string", "blobferry", ["verify"], connectionString, status: 0)

        // The error paths did log: retries of injected 503s and the rejected credentials.
        #expect(outputs["consumer-sas"]?.contains("retry") == true, "no retry was logged")
        #expect(outputs["consumer-wrong-s3"]?.contains("S3 rejected the credentials") == true)
        #expect(outputs["consumer-foreign-sas"]?.contains("Azure rejected the credentials") == true)
        #expect(outputs["status-wrong-redis"]?.contains("rejected the credentials") == true)
        #expect(outputs.count == 11)
        #expect(Self.leaks(in: outputs, secrets: secrets) == [])
    }

    /// The `sig` value of a SAS token, percent-decoded (the base64 signature).
    static func signature(of token: String) throws -> String {
        let pair = token.split(separator: "&").first { $0.hasPrefix("sig=") }
        guard let encoded = pair?.dropFirst(4), let decoded = String(encoded).removingPercentEncoding else {
            throw HarnessError("no sig= in \(token)")
        }
        return decoded
    }

    /// `text` percent-encoded (RFC 3986 unreserved characters kept, and `/` when `keepSlash`:
    /// how SAS tokens and the SDKs write a signature).
    static func percentEncoded(_ text: String, keepSlash: Bool = false) -> String {
        let unreserved = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~" + (keepSlash ? "/" : "")
        return text.addingPercentEncoding(withAllowedCharacters: CharacterSet(charactersIn: unreserved)) ?? text
    }

    /// Each secret as written and percent-encoded (the forms URLs and queries carry).
    static func forms(_ secrets: [String: String]) -> [String: String] {
        var forms: [String: String] = [:]
        for (name, value) in secrets {
            forms[name] = value
            for (suffix, encoded) in [
                ("percent-encoded", percentEncoded(value)),
                ("percent-encoded, / kept", percentEncoded(value, keepSlash: true)),
            ] where encoded != value && !forms.values.contains(encoded) {
                forms["\(name) (\(suffix))"] = encoded
            }
        }
        return forms
    }

    /// "label: secret name" for every output that contains a secret.
    static func leaks(in outputs: [String: String], secrets: [String: String]) -> [String] {
        outputs.flatMap { label, text in
            secrets.filter { text.contains($0.value) }.map { "\(label): \($0.key)" }
        }.sorted()
    }

    // MARK: - Redis as the administrator

    static func connect(_ url: String) throws -> RedisConnection {
        var configuration = try RedisConfiguration(url: url)
        configuration.connectTimeout = 3
        configuration.commandTimeout = 3
        return try RedisConnection(configuration: configuration)
    }

    /// Every key in the database (SCAN).
    static func allKeys(_ connection: RedisConnection) throws -> [String] {
        var keys: [String] = []
        var cursor = "0"
        repeat {
            let reply = try connection.send("SCAN", RedisArgument(cursor), "COUNT", "1000")
            guard let parts = reply.array, parts.count == 2, let next = parts[0].string else {
                throw HarnessError("unexpected SCAN reply \(reply)")
            }
            keys += (parts[1].array ?? []).compactMap(\.string)
            cursor = next
        } while cursor != "0"
        return keys
    }
}
