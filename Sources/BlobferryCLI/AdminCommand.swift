import ArgumentParser
import Blobferry
import Foundation

/// `blobferry`: look at a job (and, later, verify, requeue, reset).
public struct AdminCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "blobferry",
        abstract: "Inspect a blobferry migration job.",
        subcommands: [StatusCommand.self])

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
