import ArgumentParser
import Blobferry
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

// `blobferry status|verify|requeue-failed|reset`: look at a job, check it, retry what
// failed, or start it over.

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

    @Flag(help: "Redraw every --interval seconds until Ctrl-C (plain successive snapshots when not a terminal).")
    var watch = false

    @Option(help: "Seconds between snapshots with --watch.")
    var interval = 2.0

    func run() async throws {
        try await runReportingErrors("blobferry status") {
            let settings = try common.settings()
            try settings.validate(for: .admin)
            let logger = Runtime.logger(label: "blobferry", level: settings.logLevel)
            let store = try JobStore(settings: settings, logger: logger)
            if watch {
                try await watchLoop(store, settings: settings)
                return 0
            }
            let status = try await store.status(job: settings.job)
            print(json ? try status.json() : status.text(allPartitions: allPartitions))
            if failed > 0 {
                for failure in try await store.failures(limit: failed) {
                    print("failed: \(failure.key.escapedForDisplay): \(failure.reason)")
                }
            }
            return 0
        }
    }
}

extension StatusCommand {
    /// `status --watch`: a snapshot every `interval` seconds until SIGINT/SIGTERM; redrawn in
    /// place on a terminal, successive snapshots (each under a time line) otherwise, one
    /// JSON object per line with `--json`.
    private func watchLoop(_ store: JobStore, settings: Settings) async throws {
        guard interval > 0 else { throw BlobferryError(.configuration, "--interval must be above 0") }
        let stop = StopSignal()
        stop.installHandlers()
        let terminal = isatty(STDOUT_FILENO) == 1 && !json
        while !stop.isStopping {
            let status = try await store.status(job: settings.job)
            var text: String
            if json {
                text = try status.json() + "\n"
            } else {
                let details = try await store.details(leaseSeconds: settings.consumer.leaseSeconds)
                let stamp = Date().formatted(.iso8601)
                text = "\(stamp)  every \(interval.formatted())s (Ctrl-C stops)\n"
                text += status.text(allPartitions: allPartitions) + details.text() + "\n"
                text = terminal ? "\u{1B}[H\u{1B}[2J" + text : text + "\n"
            }
            FileHandle.standardOutput.write(Data(text.utf8))
            let until = Date().addingTimeInterval(interval)
            while !stop.isStopping, Date() < until { try await Task.sleep(nanoseconds: 50_000_000) }
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
            for name in report.missing.prefix(show) { print("missing: \(name.escapedForDisplay)") }
            for name in report.mismatched.prefix(show) { print("different: \(name.escapedForDisplay)") }
            for (name, reason) in report.errors.prefix(show) { print("error: \(name.escapedForDisplay): \(reason)") }
            let identical = report.checked - report.missing.count - report.mismatched.count - report.errors.count
            print(
                "verified \(report.checked) blobs (\(report.bytes) bytes): \(identical) identical, \(report.missing.count) missing, \(report.mismatched.count) different, \(report.errors.count) could not be compared"
            )
            return report.isClean ? 0 : 1
        }
    }
}

/// `blobferry requeue-failed`: gives failed keys another round once their cause is fixed.
struct RequeueFailedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "requeue-failed",
        abstract: "Move every key in the failed hash back to its queue (then run consumers again).")

    @OptionGroup var common: CommonOptions

    func run() async throws {
        try await runReportingErrors("blobferry requeue-failed") {
            let settings = try common.settings()
            try settings.validate(for: .admin)
            let store = try JobStore(
                settings: settings, logger: Runtime.logger(label: "blobferry", level: settings.logLevel))
            guard try await !store.metaFields().isEmpty else {
                throw BlobferryError(.notFound, "job '\(settings.job)' does not exist in Redis")
            }
            print("requeued \(try await store.requeueFailed()) failed keys")
            return 0
        }
    }
}

/// `blobferry reset`: deletes a job's Redis state so it can start over.
struct ResetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reset",
        abstract: "Delete every Redis key of a job, done sets included (the next run copies everything again).")

    @OptionGroup var common: CommonOptions

    @Flag(help: "Confirm: yes, delete the job's state.")
    var yes = false

    @Flag(help: "Delete even while consumers hold live leases.")
    var force = false

    func run() async throws {
        try await runReportingErrors("blobferry reset") {
            let settings = try common.settings()
            try settings.validate(for: .admin)
            guard yes else {
                throw BlobferryError(
                    .configuration, "reset deletes job '\(settings.job)' and its done sets: add --yes to confirm")
            }
            let store = try JobStore(
                settings: settings, logger: Runtime.logger(label: "blobferry", level: settings.logLevel))
            let live = try await store.liveConsumers()
            if live > 0 && !force {
                throw BlobferryError(
                    .failed, "\(live) consumer(s) of job '\(settings.job)' are still running: stop them or add --force")
            }
            print("deleted \(try await store.deleteJob()) keys of job \(settings.job)")
            return 0
        }
    }
}
