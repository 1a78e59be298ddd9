import ArgumentParser
import Blobferry
import Foundation

/// `blobferry producer`: lists the container into the job's Redis queues.
struct ProducerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "producer", abstract: ProducerOptions.abstract)

    @OptionGroup var options: ProducerOptions

    func run() async throws { try await options.run(program: "blobferry producer") }
}

/// `blobferry-producer`: the same command under the name the README, compose/ and
/// deployments use.
struct ProducerAliasCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blobferry-producer", abstract: ProducerOptions.abstract)

    @OptionGroup var options: ProducerOptions

    func run() async throws { try await options.run(program: "blobferry-producer") }
}

/// The producer's options and run, shared by `blobferry producer` and `blobferry-producer`
/// so the two cannot drift apart.
struct ProducerOptions: ParsableArguments {
    static let abstract = "List an Azure container into per-partition Redis queues (resumable)."

    @OptionGroup var common: CommonOptions

    @Option(help: .init(stringLiteral: SettingFlags.help("partitions")))
    var partitions: String?

    @Option(help: .init(stringLiteral: SettingFlags.help("listers")))
    var listers: Int?

    @Option(help: .init(stringLiteral: SettingFlags.help("max-queued-per-partition")))
    var maxQueuedPerPartition: Int?

    @Option(help: .init(stringLiteral: SettingFlags.help("include")))
    var include: String?

    @Option(help: .init(stringLiteral: SettingFlags.help("exclude")))
    var exclude: String?

    @Option(help: .init(stringLiteral: SettingFlags.help("modified-after")))
    var modifiedAfter: String?

    @Option(help: .init(stringLiteral: SettingFlags.help("modified-before")))
    var modifiedBefore: String?

    @OptionGroup var worker: WorkerOptions

    /// Runs the producer; `program` starts its error line.
    func run(program: String) async throws {
        try await runReportingErrors(program) {
            var settings = try common.settings()
            if let partitions { settings.producer.partitions = partitions }
            if let listers { settings.producer.listers = listers }
            if let maxQueuedPerPartition { settings.producer.maxQueuedPerPartition = maxQueuedPerPartition }
            if let include { settings.source.include = include }
            if let exclude { settings.source.exclude = exclude }
            if let modifiedAfter { settings.source.modifiedAfter = modifiedAfter }
            if let modifiedBefore { settings.source.modifiedBefore = modifiedBefore }
            worker.apply(to: &settings)
            try settings.validate(for: .producer)

            let logger = Runtime.logger(label: "blobferry-producer", level: settings.logLevel)
            let stop = StopSignal()
            stop.installHandlers()
            let http = try Runtime.httpEngine(connections: settings.producer.listers, caBundle: settings.caBundle)
            defer { http.shutdown() }
            let store = try JobStore(settings: settings, logger: logger)
            let azure = try await Runtime.azureClient(settings: settings, http: http, store: store, logger: logger)
            let producer = try Producer(
                settings: settings, store: store, azure: azure, stopSignal: stop, logger: logger)
            let started = Date()
            let line = ProgressLine {
                let totals = producer.progress.snapshot()
                let rate = Double(totals.listed) / max(0.001, Date().timeIntervalSince(started))
                return
                    "listed \(totals.listed)  enqueued \(totals.enqueued)  skipped \(totals.listed - totals.enqueued)  \(Int(rate)) keys/s"
            }
            let interval = IntervalRate()
            let progress = ProgressLog.start(every: settings.progressInterval, logger: logger) { seconds in
                let totals = producer.progress.snapshot()
                let rate = interval.next(totals.listed, over: seconds)
                return (
                    "progress: listed \(totals.listed), enqueued \(totals.enqueued), skipped \(totals.listed - totals.enqueued), \(String(format: "%.1f", rate)) keys/s",
                    [
                        "listed": "\(totals.listed)", "enqueued": "\(totals.enqueued)",
                        "skipped": "\(totals.listed - totals.enqueued)",
                        "rate_per_second": "\(String(format: "%.1f", rate))",
                    ]
                )
            }
            defer { line.finish() }
            let summary = try await WorkerOptions.serving(settings, progress: progress) { try await producer.run() }
            guard let summary else {
                logger.info("stopped by signal; the next run resumes from the saved markers")
                return 0
            }
            let rate = Double(summary.listed) / max(0.001, summary.seconds)
            print(
                "pass \(summary.pass)\(summary.resumed ? " (resumed)" : ""): listed \(summary.listed), enqueued \(summary.enqueued), skipped \(summary.listed - summary.enqueued)\(summary.filteredOut > 0 ? ", left out by the filter \(summary.filteredOut)" : "") in \(String(format: "%.1f", summary.seconds)) s (\(Int(rate)) keys/s)"
            )
            return 0
        }
    }
}
