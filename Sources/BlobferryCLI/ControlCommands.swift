import ArgumentParser
import Blobferry

// `blobferry pause|resume|limits`: steer a running job through Redis, without restarts.

/// `blobferry pause`: consumers finish their copies in flight and wait; the producer stops
/// between pages.
struct PauseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause",
        abstract:
            "Pause a job: consumers finish the copies in flight, hand back the rest and wait (leases kept); the producer stops between pages."
    )

    @OptionGroup var common: CommonOptions

    func run() async throws { try await setPaused(true, common) }
}

/// `blobferry resume`: undoes `pause`.
struct ResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume", abstract: "Resume a paused job: consumers claim again, the producer lists again.")

    @OptionGroup var common: CommonOptions

    func run() async throws { try await setPaused(false, common) }
}

/// `blobferry limits`: live limits every running process picks up within seconds.
struct LimitsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "limits",
        abstract:
            "Set live limits on a running job (override the settings while set; --clear returns to them); no option shows them."
    )

    @OptionGroup var common: CommonOptions

    @Option(help: "Copies in flight per consumer, at most (caps the adaptive concurrency).")
    var concurrency: Int?

    @Option(help: "Requests per second to Azure, all processes together.")
    var sourceRequestsPerSecond: Double?

    @Option(help: "Requests per second to S3, all processes together.")
    var destinationRequestsPerSecond: Double?

    @Option(help: "Bytes per second each consumer reads from Azure.")
    var bandwidth: Int?

    @Flag(help: "Remove every live limit first: the settings apply again.")
    var clear = false

    func run() async throws {
        try await runReportingErrors("blobferry limits") {
            let store = try adminStore(common)
            let change = LimitChange(
                concurrency: concurrency, sourceRequestsPerSecond: sourceRequestsPerSecond,
                destinationRequestsPerSecond: destinationRequestsPerSecond, bandwidth: bandwidth)
            let nothing =
                concurrency == nil && sourceRequestsPerSecond == nil && destinationRequestsPerSecond == nil
                && bandwidth == nil && !clear
            let now = nothing ? try await store.control() : try await store.setLimits(change, clear: clear)
            print("job \(store.keys.job) live limits: \(now.limitsText)")
            return 0
        }
    }
}

/// `pause` and `resume`: one field in the job's meta.
private func setPaused(_ paused: Bool, _ common: CommonOptions) async throws {
    try await runReportingErrors(paused ? "blobferry pause" : "blobferry resume") {
        let store = try adminStore(common)
        try await store.setPaused(paused)
        print(
            paused
                ? "job \(store.keys.job) paused (running processes follow within seconds; blobferry resume continues)"
                : "job \(store.keys.job) resumed")
        return 0
    }
}

/// The job's store for an admin command (Redis settings and `job` only).
func adminStore(_ common: CommonOptions) throws -> JobStore {
    let settings = try common.settings()
    try settings.validate(for: .admin)
    return try JobStore(settings: settings, logger: Runtime.logger(label: "blobferry", level: settings.logLevel))
}
