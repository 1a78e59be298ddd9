import ArgumentParser
import Blobferry
import Foundation

// `blobferry report|estimate`: the closing record of a job, and what it needs and costs.

extension RecordFormat: ExpressibleByArgument {}

/// `blobferry report`: every failed and vanished key, totals, partitions, timings.
struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract:
            "Write a job's closing record: timings, totals, per-partition counts, every failed key with its reason and attempts, every vanished key."
    )

    @OptionGroup var common: CommonOptions

    @Option(help: "csv (a header, then rows) or json (one JSON object a line).")
    var format = RecordFormat.csv

    @Option(help: "Write to this file instead of stdout.")
    var output: String?

    func run() async throws {
        try await runReportingErrors("blobferry report") {
            let store = try adminStore(common)
            let sink = try LineSink(path: output)
            defer { sink.close() }
            let counts = try await store.writeReport(
                writer: RecordWriter(format: format, columns: JobStore.reportColumns), output: sink.write)
            if let output {
                print(
                    "report of job \(store.keys.job): \(counts.failed) failed, \(counts.vanished) vanished, \(counts.partitions) partitions -> \(output)"
                )
            }
            return 0
        }
    }
}

/// `blobferry estimate`: requests, egress, Redis memory, cost and time from the listing.
struct EstimateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "estimate",
        abstract:
            "Estimate a job's Azure and S3 requests, egress, Redis memory, cost (prices.* settings) and time, from its listing so far."
    )

    @OptionGroup var common: CommonOptions

    @Option(help: "text or json.")
    var format = "text"

    func run() async throws {
        try await runReportingErrors("blobferry estimate") {
            guard format == "text" || format == "json" else {
                throw BlobferryError(.configuration, "--format must be text or json")
            }
            let settings = try common.settings()
            try settings.validate(for: .admin)
            let store = try adminStore(common)
            _ = try await store.existingMetaFields()
            let estimate = try await store.estimate(prices: settings.prices)
            print(format == "json" ? try estimate.json() : estimate.text())
            return 0
        }
    }
}

/// Lines to a file (created or truncated) or to stdout.
final class LineSink: @unchecked Sendable {
    /// Set once in `init`, closed once by `close`; the commands write from one task.
    private let handle: FileHandle
    private let ownsHandle: Bool

    init(path: String?) throws {
        guard let path else {
            handle = FileHandle.standardOutput
            ownsHandle = false
            return
        }
        guard FileManager.default.createFile(atPath: path, contents: nil),
            let handle = FileHandle(forWritingAtPath: path)
        else { throw BlobferryError(.configuration, "cannot write to '\(path)'") }
        self.handle = handle
        ownsHandle = true
    }

    func write(_ line: String) {
        handle.write(Data((line + "\n").utf8))
    }

    func close() {
        if ownsHandle { try? handle.close() }
    }
}
