import ArgumentParser
import Blobferry
import Foundation

/// `blobferry`: look at a job (and, later, verify, requeue, reset).
public struct AdminCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "blobferry",
        abstract: "Inspect a blobferry migration job.",
        subcommands: [StatusCommand.self, VerifyCommand.self])

    public init() {}
}

/// `blobferry status`: progress, rates, ETA, per partition.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show a job's progress (--json for scripts).")

    @OptionGroup var common: CommonOptions

    @Flag(help: "Print one JSON object.")
    var json = false

    @Flag(help: "List every partition, even empty ones.")
    var allPartitions = false

    @Option(help: "Also list up to this many failed keys with their reasons.")
    var failed = 0

    func run() async throws {
        try await runReportingErrors("blobferry status") {
            let settings = try common.settings()
            try settings.validate(for: .admin)
            let logger = Runtime.logger(label: "blobferry", level: settings.logLevel)
            let store = try JobStore(settings: settings, logger: logger)
            let status = try await store.status(job: settings.job)
            print(json ? try status.json() : status.text(allPartitions: allPartitions))
            if failed > 0 {
                for failure in try await store.failures(limit: failed) {
                    print("failed: \(failure.key): \(failure.reason)")
                }
            }
            return 0
        }
    }
}

/// `blobferry verify`: compares every source blob with its S3 object by MD5.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Compare every blob in the source container with its S3 object by MD5 (exit 1 on any difference).")

    @OptionGroup var common: CommonOptions

    @Option(help: "Only blobs under this prefix.")
    var prefix = ""

    @Option(help: "Objects compared at the same time.")
    var concurrency = 32

    @Option(help: "Print at most this many missing or different keys.")
    var show = 20

    func run() async throws {
        try await runReportingErrors("blobferry verify") {
            let settings = try common.settings()
            try settings.validate(for: .consumer)
            let logger = Runtime.logger(label: "blobferry", level: settings.logLevel)
            let http = try Runtime.httpEngine(connections: concurrency)
            defer { http.shutdown() }
            let verifier = Verifier(
                azure: try Runtime.azureClient(settings: settings, http: http),
                s3: try Runtime.s3Client(settings: settings, http: http),
                destinationPrefix: settings.destination.prefix, concurrency: concurrency, logger: logger)
            let report = try await verifier.run(prefix: prefix)
            for name in report.missing.prefix(show) { print("missing: \(name)") }
            for name in report.mismatched.prefix(show) { print("different: \(name)") }
            print(
                "verified \(report.checked) blobs (\(report.bytes) bytes): \(report.checked - report.missing.count - report.mismatched.count) identical, \(report.missing.count) missing, \(report.mismatched.count) different"
            )
            return report.isClean ? 0 : 1
        }
    }
}
