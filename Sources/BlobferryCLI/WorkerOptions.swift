import ArgumentParser
import Blobferry

/// Options the producer and the consumer share beyond `CommonOptions`, and how both run
/// their work with the process services those options start (metrics, progress lines), so
/// the two commands cannot drift apart.
struct WorkerOptions: ParsableArguments {
    @Flag(help: .init(stringLiteral: SettingFlags.help("rebind")))
    var rebind = false

    @Option(help: .init(stringLiteral: SettingFlags.help("metrics-address")))
    var metricsAddress: String?

    @Option(help: .init(stringLiteral: SettingFlags.help("progress-interval")))
    var progressInterval: Double?

    func apply(to settings: inout Settings) {
        if rebind { settings.rebind = true }
        if let metricsAddress { settings.metricsAddress = metricsAddress }
        if let progressInterval { settings.progressInterval = progressInterval }
    }

    /// Runs `work` with `/metrics` served (when configured) and `progress` logging, and
    /// stops both however `work` ends.
    static func serving<Result>(
        _ settings: Settings, progress: Task<Void, Never>?, _ work: () async throws -> Result
    ) async throws -> Result {
        let metrics: MetricsServer?
        do {
            metrics = try await MetricsServer.startProcessMetrics(settings)
        } catch {
            progress?.cancel()
            throw error
        }
        do {
            let result = try await work()
            progress?.cancel()
            await metrics?.stop()
            return result
        } catch {
            progress?.cancel()
            await metrics?.stop()
            throw error
        }
    }
}
