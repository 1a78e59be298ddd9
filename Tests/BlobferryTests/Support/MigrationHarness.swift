import BlobferryCrypto
import BlobferryHTTP
import BlobferryRedis
import BlobferryTestSupport
import Foundation
import Logging
import Synchronization

@testable import Blobferry

/// One migration job under test: its own redis-server, container, bucket and job name on
/// the shared services (or its own emulator when the test injects faults, its own S3 when
/// the processes run in other network namespaces), the real executables as child
/// processes, and checks that compare S3 with the source byte for byte.
final class MigrationHarness: @unchecked Sendable {
    /// An S3 endpoint and the credentials it takes.
    struct S3Target {
        var endpoint: String
        var accessKey: String
        var secretKey: String

        /// The shared SeaweedFS of `scripts/services.sh`.
        static func shared() throws -> S3Target {
            S3Target(
                endpoint: try TestEnvironment.value("BLOBFERRY_TEST_S3_ENDPOINT"),
                accessKey: try TestEnvironment.value("BLOBFERRY_TEST_S3_ACCESS_KEY"),
                secretKey: try TestEnvironment.value("BLOBFERRY_TEST_S3_SECRET_KEY"))
        }

        /// A SeaweedFS the test started itself.
        init(_ server: SeaweedFSProcess) {
            self.init(
                endpoint: server.endpoint, accessKey: SeaweedFSProcess.accessKey, secretKey: SeaweedFSProcess.secretKey)
        }

        init(endpoint: String, accessKey: String, secretKey: String) {
            self.endpoint = endpoint
            self.accessKey = accessKey
            self.secretKey = secretKey
        }
    }

    let redis: RedisServerProcess
    /// What the job's processes get in BLOBFERRY_REDIS_URL (`redis.url` unless given).
    let redisURL: String
    let job: String
    let container: String
    let bucket: String
    let azureEndpoint: String
    let azureAccount: String
    let azureKey: String
    let s3Endpoint: String
    let s3Target: S3Target
    let http: HTTPEngine
    let azure: AzureBlobClient
    let s3: S3Client
    private let emulator: AzureEmulatorProcess?
    let logDirectory: URL
    private let store = Mutex<JobStore?>(nil)

    /// `emulator`: a dedicated emulator (fault injection); nil uses the shared one.
    /// `redis`: a server the test configured (ACL users, a password); nil starts a plain one.
    /// `redisURL`: the URL processes use (an ACL user, a TLS tunnel); nil uses `redis.url`.
    /// `s3`: the S3 to copy to; nil uses the shared SeaweedFS.
    init(
        name: String, emulator: AzureEmulatorProcess? = nil, redisAppendOnly: Bool = false,
        redis: RedisServerProcess? = nil, redisURL: String? = nil, s3 target: S3Target? = nil
    ) async throws {
        let suffix = String(UUID().uuidString.prefix(8)).lowercased()
        job = "\(name)-\(suffix)"
        container = "src-\(suffix)"
        bucket = "dst-\(suffix)"
        let server = try redis ?? RedisServerProcess(appendOnly: redisAppendOnly)
        self.redis = server
        self.redisURL = redisURL ?? server.url
        self.emulator = emulator
        if let emulator {
            azureEndpoint = emulator.endpoint
            azureAccount = emulator.account
            azureKey = emulator.key
        } else {
            azureEndpoint = try TestEnvironment.value("BLOBFERRY_TEST_AZURE_ENDPOINT")
            azureAccount = try TestEnvironment.value("BLOBFERRY_TEST_AZURE_ACCOUNT")
            azureKey = try TestEnvironment.value("BLOBFERRY_TEST_AZURE_KEY")
        }
        let s3Target = try target ?? S3Target.shared()
        self.s3Target = s3Target
        s3Endpoint = s3Target.endpoint
        http = try HTTPEngine()
        azure = try AzureBlobClient(
            endpoint: azureEndpoint, container: container,
            credential: .sharedKey(account: azureAccount, key: Secret(azureKey)), http: http)
        s3 = try S3Client(
            endpoint: s3Endpoint, region: "us-east-1", bucket: bucket,
            credentials: AWSCredentials(
                accessKeyID: s3Target.accessKey, secretAccessKey: s3Target.secretKey, sessionToken: nil),
            http: http)
        logDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("blobferry-\(job)")
        try FileManager.default.createDirectory(at: logDirectory, withIntermediateDirectories: true)
        try await azure.createContainer()
        try await s3.createBucket()
    }

    deinit { http.shutdown() }

    /// The environment a blobferry process of this job runs with.
    func environment(_ overrides: [String: String] = [:]) throws -> [String: String] {
        var environment = ProcessInfo.processInfo.environment.filter {
            !$0.key.hasPrefix("BLOBFERRY_") && !$0.key.hasPrefix("AWS_") && !$0.key.hasPrefix("AZURE_")
        }
        environment.merge([
            "BLOBFERRY_JOB": job,
            "BLOBFERRY_REDIS_URL": redisURL,
            "AZURE_STORAGE_ACCOUNT": azureAccount,
            "AZURE_STORAGE_KEY": azureKey,
            "BLOBFERRY_SOURCE_ENDPOINT": azureEndpoint,
            "BLOBFERRY_SOURCE_CONTAINER": container,
            "AWS_ENDPOINT_URL_S3": s3Endpoint,
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": s3Target.accessKey,
            "AWS_SECRET_ACCESS_KEY": s3Target.secretKey,
            "BLOBFERRY_DEST_BUCKET": bucket,
            "BLOBFERRY_LEASE_SECONDS": "3",
            "BLOBFERRY_PRODUCER_LEASE_SECONDS": "3",
            "BLOBFERRY_CONCURRENCY": "32",
            // Never the machine's own instance role (a CI runner on EC2).
            "AWS_EC2_METADATA_DISABLED": "true",
        ]) { _, new in new }
        environment.merge(overrides) { _, new in new }
        return environment
    }

    /// Starts one of the executables; its output goes to a log file named after `label`.
    /// `launcher`: words that run it elsewhere (`ip netns exec <namespace>`), exec'ing it in
    /// place so the process id stays the executable's.
    func start(
        _ executable: String, _ arguments: [String] = [], label: String, environment overrides: [String: String] = [:],
        launcher: [String] = []
    )
        throws -> LocalProcess
    {
        let command = launcher + [Self.binary(executable)] + arguments
        return try LocalProcess(
            command[0], Array(command.dropFirst()), environment: try environment(overrides),
            logFile: logDirectory.appendingPathComponent("\(label).log").path)
    }

    /// Runs an executable to the end; returns its exit status and its log.
    func run(
        _ executable: String, _ arguments: [String] = [], label: String, environment overrides: [String: String] = [:],
        timeout: TimeInterval = 300
    ) async throws -> (status: Int32, output: String) {
        let process = try start(executable, arguments, label: label, environment: overrides)
        let status = try await process.exitStatus(timeout: timeout)
        return (status, log(label))
    }

    func log(_ label: String) -> String {
        (try? String(contentsOf: logDirectory.appendingPathComponent("\(label).log"), encoding: .utf8)) ?? ""
    }

    /// One raw Redis command on the job's server (to read what the processes left: a
    /// consumer's lease, its in-flight hash). Rides out a Redis restart like the processes.
    @discardableResult
    func redis(_ arguments: String...) async throws -> RedisReply {
        try await redis(arguments)
    }

    @discardableResult
    func redis(_ arguments: [String]) async throws -> RedisReply {
        let command = arguments.map { RedisArgument($0) }
        return try await jobStore().run { try $0.send(command) }
    }

    /// The job's key names.
    var keys: JobKeys { JobKeys(job: job) }

    private func jobStore() throws -> JobStore {
        if let existing = store.withLock({ $0 }) { return existing }
        var settings = Settings()
        settings.job = job
        settings.redisURL = Secret(redisURL)
        settings.redisOutageSeconds = 30
        let created = try JobStore(settings: settings, logger: Logger(label: "harness"))
        return store.withLock { current in
            if let current { return current }
            current = created
            return created
        }
    }

    /// `blobferry status --json`, decoded: the contract scripts rely on.
    func status() async throws -> JobStatus {
        let result = try await run("blobferry", ["status", "--json"], label: "status-\(UUID().uuidString.prefix(6))")
        guard result.status == 0, let line = result.output.split(separator: "\n").first(where: { $0.hasPrefix("{") })
        else {
            throw HarnessError("status failed (\(result.status)): \(result.output)")
        }
        return try JSONDecoder().decode(JobStatus.self, from: Data(line.utf8))
    }

    /// Uploads blobs whose bytes derive from their names; returns name -> bytes.
    @discardableResult
    func seed(_ names: [String], size: (Int) -> Int = { 200 + ($0 * 7919) % 5000 }) async throws -> [String: [UInt8]] {
        var bodies: [String: [UInt8]] = [:]
        for (index, name) in names.enumerated() {
            bodies[name] = Self.body(for: name, size: size(index))
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            var iterator = bodies.makeIterator()
            for _ in 0..<64 {
                guard let (name, body) = iterator.next() else { break }
                group.addTask {
                    try await self.azure.putBlob(
                        name, body: body, contentType: "application/x-test", metadata: ["origin": "harness"])
                }
            }
            while try await group.next() != nil {
                guard let (name, body) = iterator.next() else { continue }
                group.addTask {
                    try await self.azure.putBlob(
                        name, body: body, contentType: "application/x-test", metadata: ["origin": "harness"])
                }
            }
        }
        return bodies
    }

    static func body(for name: String, size: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(size + 32)
        var block = Digest.sha256(Array(name.utf8))
        while bytes.count < size {
            bytes += block
            block = Digest.sha256(block)
        }
        return Array(bytes.prefix(size))
    }

    /// Compares every expected object in S3 with its source bytes by MD5; returns the
    /// keys that are missing or differ (empty means every byte arrived).
    func mismatches(_ expected: [String: [UInt8]]) async throws -> [String] {
        try await withThrowingTaskGroup(of: String?.self) { group in
            var iterator = expected.makeIterator()
            var bad: [String] = []
            func add(_ name: String, _ body: [UInt8]) {
                group.addTask {
                    do {
                        let stored = try await self.s3.getObject(key: name)
                        return Digest.md5(stored) == Digest.md5(body) ? nil : name
                    } catch {
                        return name
                    }
                }
            }
            for _ in 0..<32 {
                guard let (name, body) = iterator.next() else { break }
                add(name, body)
            }
            while let result = try await group.next() {
                if let result { bad.append(result) }
                if let (name, body) = iterator.next() { add(name, body) }
            }
            return bad
        }
    }

    /// Every key in the bucket.
    func bucketKeys() async throws -> Set<String> {
        var keys: Set<String> = []
        var token: String?
        repeat {
            let page = try await s3.listObjects(prefix: "", continuationToken: token)
            keys.formUnion(page.keys)
            token = page.next
        } while token != nil
        return keys
    }

    static func binary(_ name: String) -> String {
        let directory =
            ProcessInfo.processInfo.environment["BLOBFERRY_BIN_DIR"] ?? TestEnvironment.path(".build/debug")
        return directory + "/" + name
    }

    /// Waits until `condition` holds, polling; throws after `timeout`.
    func waitUntil(_ what: String, timeout: TimeInterval = 120, _ condition: () async throws -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try await condition() { return }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        throw HarnessError("timed out waiting until \(what)")
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Names that break naive tools: reserved URL characters, unicode (NFC and NFD), emoji,
/// odd first characters. SeaweedFS rewrites `\`, `//` and a leading `/`, so those stay out;
/// every name here holds on Azure, SeaweedFS and moto alike.
enum AwkwardNames {
    static let all: [String] = [
        "with space.txt", "two  spaces and trailing.x", "a+b+c.txt", "100%.txt", "literal%20not-a-space",
        "percent%2Fslash", "question?mark=1", "hash#fragment", "amp&ersand&x=y", "tilde~name", "equals=sign",
        "semi;colon,comma", "xml<&>'\"chars", "brackets[1]{2}(3)", "at@dollar$bang!star*", "caret^back`tick|pipe",
        "unicode-ünïcödé-日本語-Ω", "nfd-e\u{301}-combining", "emoji-😀🚀👩‍👩‍👧", "_leading-underscore",
        "-leading-dash", ".leading-dot", " leading space", "~leading-tilde", "dir/sub/file",
        "dir/sub/ünï code+%20?#.txt",
    ]
}
