import BlobferryTestSupport
import Foundation
import Testing

@testable import Blobferry

/// Bad credentials, missing containers and buckets, an unreachable Redis: each gives one
/// line naming the problem, its own exit code, and leaves every queued key in place.
@Suite(.serialized)
struct BadInputTests {
    /// A job with `count` keys listed and queued, nothing copied yet.
    static func queuedJob(_ name: String, count: Int = 40) async throws -> MigrationHarness {
        let harness = try await MigrationHarness(name: name)
        try await harness.seed((0..<count).map { "k\($0)" })
        let producer = try await harness.run("blobferry-producer", label: "producer")
        #expect(producer.status == 0, "\(producer.output)")
        return harness
    }

    /// The lines a failed run printed that start with the program's name.
    static func errorLines(_ output: String, program: String) -> [Substring] {
        output.split(separator: "\n").filter { $0.hasPrefix("\(program):") }
    }

    @Test func wrongAzureKeyStopsTheConsumerAndKeepsTheQueue() async throws {
        let harness = try await Self.queuedJob("bad-azure")
        let wrongKey = Base64Key.random()
        let run = try await harness.run(
            "blobferry-consumer", label: "consumer", environment: ["AZURE_STORAGE_KEY": wrongKey])
        #expect(run.status == BlobferryError.Code.credentials.rawValue)
        let lines = Self.errorLines(run.output, program: "blobferry-consumer")
        #expect(lines.count == 1)
        #expect(lines.first?.contains("Azure rejected the credentials") == true, "\(run.output)")
        #expect(!run.output.contains(wrongKey))
        let status = try await harness.status()
        #expect(status.queued == 40 && status.copied == 0 && status.inflight == 0)
    }

    @Test func wrongS3SecretStopsTheConsumerAndKeepsTheQueue() async throws {
        let harness = try await Self.queuedJob("bad-s3")
        let run = try await harness.run(
            "blobferry-consumer", label: "consumer", environment: ["AWS_SECRET_ACCESS_KEY": "not-the-secret-0123456789"]
        )
        #expect(run.status == BlobferryError.Code.credentials.rawValue)
        let lines = Self.errorLines(run.output, program: "blobferry-consumer")
        #expect(lines.count == 1)
        #expect(lines.first?.contains("S3 rejected the credentials") == true, "\(run.output)")
        #expect(!run.output.contains("not-the-secret-0123456789"))
        #expect(try await harness.status().queued == 40)
    }

    @Test func missingBucketAndContainerAreNamed() async throws {
        let harness = try await Self.queuedJob("missing")
        let consumer = try await harness.run(
            "blobferry-consumer", label: "consumer", environment: ["BLOBFERRY_DEST_BUCKET": "no-such-bucket-bf"])
        #expect(consumer.status == BlobferryError.Code.notFound.rawValue)
        #expect(
            Self.errorLines(consumer.output, program: "blobferry-consumer").first?.contains("no-such-bucket-bf") == true
        )
        #expect(try await harness.status().queued == 40)

        let producer = try await harness.run(
            "blobferry-producer", label: "producer-missing",
            environment: ["BLOBFERRY_SOURCE_CONTAINER": "no-such-container", "BLOBFERRY_JOB": "other-job"])
        #expect(producer.status == BlobferryError.Code.notFound.rawValue)
        #expect(
            Self.errorLines(producer.output, program: "blobferry-producer").first?.contains("no-such-container") == true
        )
    }

    @Test func unreachableRedisIsOneLineAndExitFive() async throws {
        let harness = try await Self.queuedJob("no-redis", count: 5)
        let closedPort = try LoopbackPort.free()
        for program in ["blobferry-producer", "blobferry-consumer"] {
            let run = try await harness.run(
                program, label: "\(program)-no-redis",
                environment: [
                    "BLOBFERRY_REDIS_URL": "redis://:hunter2secret@127.0.0.1:\(closedPort)/0",
                    "BLOBFERRY_REDIS_OUTAGE_SECONDS": "2",
                ])
            #expect(run.status == BlobferryError.Code.unreachable.rawValue, "\(run.output)")
            let lines = Self.errorLines(run.output, program: program)
            #expect(lines.count == 1)
            #expect(lines.first?.contains("unreachable") == true)
            #expect(!run.output.contains("hunter2secret"))
        }
        #expect(try await harness.status().queued == 5)
    }

    /// Issue 8.7: a job is bound to its source and destination endpoints, not only to
    /// container and bucket names; a consumer pointed elsewhere is refused (exit 2, both
    /// values named) until the move is made explicit.
    @Test func aConsumerPointedAtAnotherEndpointIsRefused() async throws {
        let harness = try await Self.queuedJob("bound", count: 5)
        let elsewhere = [
            (
                "BLOBFERRY_SOURCE_ENDPOINT",
                harness.azureEndpoint.replacingOccurrences(of: "127.0.0.1", with: "localhost")
            ),
            ("AWS_ENDPOINT_URL_S3", harness.s3Endpoint.replacingOccurrences(of: "127.0.0.1", with: "localhost")),
        ]
        for (variable, value) in elsewhere {
            let run = try await harness.run(
                "blobferry-consumer", label: "moved-\(variable)", environment: [variable: value])
            #expect(run.status == BlobferryError.Code.configuration.rawValue, "\(run.output)")
            let lines = Self.errorLines(run.output, program: "blobferry-consumer")
            #expect(lines.count == 1 && lines.first?.contains(value) == true, "\(run.output)")
        }
        #expect(try await harness.status().queued == 5)
        let moved = try await harness.run(
            "blobferry-consumer", label: "rebound",
            environment: [elsewhere[1].0: elsewhere[1].1, "BLOBFERRY_REBIND": "true"])
        #expect(moved.status == 0, "\(moved.output)")
        #expect(try await harness.status().copied == 5)
    }

    /// `delete-removed --apply` with a bucket prefix other than the job's is refused before
    /// any object is touched: a wrong prefix must not delete someone else's objects.
    @Test func deleteRemovedRefusesAnotherDestinationThanTheJobs() async throws {
        let harness = try await Self.queuedJob("delete-bound", count: 3)
        let run = try await harness.run(
            "blobferry", ["delete-removed", "--apply"], label: "delete-elsewhere",
            environment: ["BLOBFERRY_DEST_PREFIX": "elsewhere/"])
        #expect(run.status == BlobferryError.Code.configuration.rawValue, "\(run.output)")
        let lines = Self.errorLines(run.output, program: "blobferry delete-removed")
        #expect(lines.count == 1 && lines.first?.contains("elsewhere/") == true, "\(run.output)")
    }

    @Test func missingSettingsAreNamedBeforeAnythingIsTouched() async throws {
        var environment = ProcessInfo.processInfo.environment.filter {
            !$0.key.hasPrefix("BLOBFERRY_") && !$0.key.hasPrefix("AWS_") && !$0.key.hasPrefix("AZURE_")
        }
        environment["AWS_EC2_METADATA_DISABLED"] = "true"  // never the machine's own instance role
        let process = try LocalProcess(
            MigrationHarness.binary("blobferry-consumer"), [], environment: environment,
            logFile: FileManager.default.temporaryDirectory.appendingPathComponent("bf-missing-\(UUID()).log").path)
        #expect(try await process.exitStatus(timeout: 30) == BlobferryError.Code.configuration.rawValue)
    }
}

enum Base64Key {
    /// A syntactically valid account key that is not the account's.
    static func random() -> String {
        let bytes = (0..<64).map { _ in UInt8.random(in: 0...255) }
        return Data(bytes).base64EncodedString()
    }
}
