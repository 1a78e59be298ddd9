import ArgumentParser
import Blobferry
import Foundation

/// `blobferry exporter`: job-wide gauges from Redis alone at `/metrics`, for a KEDA
/// ScaledObject (scale consumers on queued keys) and dashboards.
///
/// Why a separate process: the producer and consumers come and go (a consumer exits when
/// the job completes, KEDA may scale them to zero); the job's totals live in Redis, so one
/// small exporter that reads them stays up for the whole migration.
struct ExporterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exporter",
        abstract: "Serve a job's totals from Redis as Prometheus gauges at /metrics (the numbers of status --json).")

    @OptionGroup var common: CommonOptions

    @Option(help: .init(stringLiteral: SettingFlags.help("listen")))
    var listen: String?

    func run() async throws {
        try await runReportingErrors("blobferry exporter") {
            var settings = try common.settings()
            if let listen { settings.metricsAddress = listen }
            try settings.validate(for: .admin)
            guard let address = ListenAddress(parsing: settings.metricsAddress) else {
                throw BlobferryError(
                    .configuration, "blobferry exporter needs --listen HOST:PORT (or metrics_address)")
            }
            let logger = Runtime.logger(label: "blobferry-exporter", level: settings.logLevel)
            let stop = StopSignal()
            stop.installHandlers()
            let store = try JobStore(settings: settings, logger: logger)
            let job = settings.job
            let server = try await MetricsServer.start(address) {
                try await store.status(job: job).prometheusGauges()
            }
            logger.info("serving job '\(job)' gauges at http://\(address.host):\(address.port)/metrics")
            while !stop.isStopping { try await Task.sleep(nanoseconds: 200_000_000) }
            await server.stop()
            return 0
        }
    }
}
