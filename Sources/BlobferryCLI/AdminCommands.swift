import ArgumentParser
import Blobferry
import Foundation
import Synchronization

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

/// `blobferry verify`: compares every source blob with its S3 object, by listing both
/// sides (the default: no downloads) or byte by byte (`--download`).
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract:
            "Compare every blob in the source container with its S3 object: sizes and MD5s from both listings (no downloads), or every byte with --download. Exit 1 on any difference."
    )

    @OptionGroup var common: CommonOptions

    @Option(help: "Only blobs under this prefix.")
    var prefix = ""

    @Option(help: "Objects compared at the same time (HEADs of multipart objects, or downloads).")
    var concurrency = 32

    @Flag(help: "Read every blob's object (and the blob when Azure has no MD5) and compare bytes by MD5.")
    var download = false

    @Option(
        help:
            "With --download: compare only this percentage of the blobs (0-100), a deterministic sample by the hash of each name."
    )
    var sample: Double?

    @Option(help: "With --sample: mixed into the hash, so another seed samples other blobs.")
    var sampleSeed = ""

    @Option(
        help:
            "Write every difference to this file (kind, name, detail) in --format; created only when there is one."
    )
    var report = "blobferry-verify.jsonl"

    @Option(help: "The report's format: json (one JSON object a line) or csv (a header, then rows).")
    var format = RecordFormat.json

    @Option(help: "Print at most this many differences.")
    var show = 20

    func run() async throws {
        try await runReportingErrors("blobferry verify") {
            let settings = try common.settings()
            try settings.validate(for: .consumer)
            if let sample, !download || !(sample > 0 && sample <= 100) {
                throw BlobferryError(.configuration, "--sample needs --download and a percentage above 0, at most 100")
            }
            // A previous run's report must not be mistaken for this one's.
            try? FileManager.default.removeItem(atPath: report)
            let file = DifferenceFile(path: report, show: show, format: format)
            let logger = Runtime.logger(label: "blobferry", level: settings.logLevel)
            let http = try Runtime.httpEngine(connections: concurrency, caBundle: settings.caBundle)
            defer { http.shutdown() }
            let azure = try await Runtime.azureClient(settings: settings, http: http, logger: logger)
            let s3 = try await Runtime.s3Client(settings: settings, http: http, logger: logger)
            let found: VerifyReport
            if download {
                var verifier = Verifier(
                    azure: azure, s3: s3, destinationPrefix: settings.destination.prefix, concurrency: concurrency,
                    logger: logger)
                verifier.samplePercent = sample
                verifier.sampleSeed = sampleSeed
                found = try await verifier.run(prefix: prefix, onDifference: file.record)
            } else {
                found = try await ListingVerifier(
                    azure: azure, s3: s3, destinationPrefix: settings.destination.prefix, concurrency: concurrency,
                    logger: logger
                ).run(prefix: prefix, onDifference: file.record)
            }
            file.close()
            let sizeOnly = found.sizeOnly > 0 ? " (\(found.sizeOnly) by size only: no MD5 to compare)" : ""
            print(
                "verified \(found.checked) blobs (\(found.bytes) bytes) \(download ? "by downloading" : "by listing"): \(found.identical) identical\(sizeOnly), \(found.count(.missing)) missing, \(found.count(.size) + found.count(.hash)) different (\(found.count(.size)) size, \(found.count(.hash)) hash), \(found.count(.extra)) extra, \(found.count(.error)) could not be compared; \(found.directoryMarkers) directory markers skipped"
            )
            if found.notSampled > 0 {
                print(
                    "sample: \(found.checked) of \(found.checked + found.notSampled) blobs compared (--sample \(sample ?? 0))"
                )
            }
            if file.written > 0 { print("every difference (\(file.written)): \(report)") }
            return found.isClean ? 0 : 1
        }
    }
}

/// The verify report file: every difference as a record of the shared `RecordWriter` (a
/// JSON line, or a CSV row under a header), the first `show` printed too.
/// Created at the first difference, so a clean run leaves no file behind. Differences
/// arrive one at a time from the verifier's loop; the lock only makes that safe to state.
final class DifferenceFile: Sendable {
    private struct State {
        var handle: FileHandle?
        var printed = 0
        var written = 0
        var failed = false
    }

    let path: String
    private let state = Mutex(State())
    private let show: Int
    private let writer: RecordWriter

    init(path: String, show: Int, format: RecordFormat) {
        self.path = path
        self.show = show
        writer = RecordWriter(format: format, columns: ["kind", "name", "detail"])
    }

    /// Differences written to the file.
    var written: Int { state.withLock { $0.written } }

    func record(_ difference: VerifyDifference) {
        state.withLock { state in
            if state.handle == nil && !state.failed {
                if FileManager.default.createFile(atPath: path, contents: nil) {
                    state.handle = FileHandle(forWritingAtPath: path)
                }
                if let header = writer.header { state.handle?.write(Data((header + "\n").utf8)) }
                if state.handle == nil {
                    state.failed = true
                    printError("blobferry verify: cannot write the report to '\(path)'; differences are printed only")
                }
            }
            if let handle = state.handle {
                let line = writer.line([
                    ("kind", .text(difference.kind.rawValue)), ("name", .text(difference.name)),
                    ("detail", .text(difference.detail)),
                ])
                handle.write(Data((line + "\n").utf8))
                state.written += 1
            }
            if state.printed < show || state.failed {
                state.printed += 1
                print(difference.displayLine)
            }
        }
    }

    func close() {
        state.withLock { state in
            try? state.handle?.close()
            state.handle = nil
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
            _ = try await store.existingMetaFields()
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
