import ArgumentParser
import Blobferry
import Foundation

/// `blobferry consumer`: copies claimed blobs from Azure to S3. Run any number of them.
struct ConsumerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consumer", abstract: ConsumerOptions.abstract)

    @OptionGroup var options: ConsumerOptions

    func run() async throws { try await options.run(program: "blobferry consumer") }
}

/// `blobferry-consumer`: the same command under the name the README, compose/ and
/// deployments use.
struct ConsumerAliasCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blobferry-consumer", abstract: ConsumerOptions.abstract)

    @OptionGroup var options: ConsumerOptions

    func run() async throws { try await options.run(program: "blobferry-consumer") }
}

/// The consumer's options and run, shared by `blobferry consumer` and `blobferry-consumer`
/// so the two cannot drift apart.
struct ConsumerOptions: ParsableArguments {
    static let abstract = "Copy queued blobs from Azure to S3; exits 0 when the job is complete."

    @OptionGroup var common: CommonOptions

    @Option(help: .init(stringLiteral: SettingFlags.help("concurrency")))
    var concurrency: Int?

    @Option(help: .init(stringLiteral: SettingFlags.help("batch")))
    var batch: Int?

    @Option(help: .init(stringLiteral: SettingFlags.help("id")))
    var id: String?

    @Flag(help: .init(stringLiteral: SettingFlags.help("wait-for-more")))
    var waitForMore = false

    @OptionGroup var worker: WorkerOptions

    /// Runs the consumer; `program` starts its error line.
    func run(program: String) async throws {
        try await runReportingErrors(program) {
            var settings = try common.settings()
            if let concurrency { settings.consumer.concurrency = concurrency }
            if let batch { settings.consumer.batch = batch }
            if let id { settings.consumer.consumerID = id }
            if waitForMore { settings.consumer.waitForMore = true }
            worker.apply(to: &settings)
            try settings.validate(for: .consumer)

            let logger = Runtime.logger(label: "blobferry-consumer", level: settings.logLevel)
            let stop = StopSignal()
            stop.installHandlers()
            let http = try Runtime.httpEngine(connections: settings.consumer.concurrency, caBundle: settings.caBundle)
            defer { http.shutdown() }
            let store = try JobStore(settings: settings, logger: logger)
            let control = LiveControl()
            let consumer = Consumer(
                settings: settings, store: store,
                azure: try await Runtime.azureClient(
                    settings: settings, http: http, store: store, control: control, logger: logger),
                s3: try await Runtime.s3Client(
                    settings: settings, http: http, store: store, control: control, logger: logger),
                stopSignal: stop, logger: logger, control: control
            )
            let interval = IntervalRate()
            let progress = ProgressLog.start(every: settings.progressInterval, logger: logger) { seconds in
                let totals = consumer.progress.snapshot()
                let rate = interval.next(totals.copied, over: seconds)
                let inFlight = Int(Metrics.process.value("blobferry_copies_in_flight"))
                return (
                    "progress: copied \(totals.copied) (\(totals.bytes) bytes), \(String(format: "%.1f", rate)) objects/s, in flight \(inFlight), failed \(totals.failed), vanished \(totals.vanished)",
                    [
                        "copied": "\(totals.copied)", "bytes": "\(totals.bytes)",
                        "rate_per_second": "\(String(format: "%.1f", rate))", "in_flight": "\(inFlight)",
                        "failed": "\(totals.failed)", "vanished": "\(totals.vanished)",
                    ]
                )
            }
            let summary = try await WorkerOptions.serving(settings, progress: progress) { try await consumer.run() }
            let rate = Double(summary.copied) / max(0.001, summary.seconds)
            print(
                "consumer \(consumer.id): copied \(summary.copied) (\(summary.bytes) bytes), failed \(summary.failed), vanished \(summary.vanished), directory markers skipped \(summary.directoryMarkers) in \(String(format: "%.1f", summary.seconds)) s (\(String(format: "%.1f", rate)) objects/s)"
            )
            if let stoppedBy = summary.stoppedBy { throw stoppedBy }
            return 0
        }
    }
}
