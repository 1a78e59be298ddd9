import Foundation
import Logging

/// A stateless copy worker: claims keys in batches, keeps many copies in flight, and
/// acknowledges in batches. Run as many as you like, on as many machines as you like.
///
/// What it promises: a claimed key is always in exactly one place in Redis (its queue,
/// this consumer's in-flight hash, a done set or `failed`). If the process dies, its lease
/// runs out and another consumer puts its claims back; on SIGTERM/SIGINT it finishes the
/// copies in flight, hands back what it had not started, and exits 0.
public final class Consumer: Sendable {
    /// Totals of one consumer run.
    public struct Summary: Sendable {
        public var copied: Int
        public var bytes: Int
        public var failed: Int
        public var vanished: Int
        public var directoryMarkers: Int
        public var seconds: Double
        /// Why the run ended early, when it did (credentials, unreachable services).
        public var stoppedBy: BlobferryError?
    }

    /// The configured name (`--id`, or `host-pid-random`): the label in logs and status.
    public let id: String
    /// This run's identity in Redis: the name plus a per-run nonce (`name#nonce`). A
    /// process restarted under the same name is a new run: it never renews its dead
    /// predecessor's lease, so that lease expires and its claims go back to the queues.
    public let runID: String
    let settings: Settings
    let store: JobStore
    private let azure: AzureBlobClient
    private let s3: S3Client
    let copier: BlobCopier
    let stopSignal: StopSignal
    let logger: Logger
    let counters = ProgressCounters()
    let concurrency: AdaptiveConcurrency
    /// The job's pause and live limits as this process last read them.
    let control: LiveControl
    /// This run's totals so far (progress lines).
    public var progress: ProgressCounters { counters }

    /// `control`: the one the clients' rate limits read (`Runtime.azureClient(control:)`),
    /// kept current from Redis while the consumer runs.
    public init(
        settings: Settings, store: JobStore, azure: AzureBlobClient, s3: S3Client, stopSignal: StopSignal,
        logger: Logger, control: LiveControl = LiveControl()
    ) {
        self.control = control
        self.id = settings.consumer.consumerID.isEmpty ? Self.defaultID() : settings.consumer.consumerID
        self.runID = "\(id)#\(String(UInt64.random(in: 0...UInt64.max), radix: 36))"
        self.settings = settings
        self.store = store
        self.azure = azure
        self.s3 = s3
        self.stopSignal = stopSignal
        self.logger = logger
        let concurrency = AdaptiveConcurrency(maximum: settings.consumer.concurrency)
        self.concurrency = concurrency
        var retry = RetryPolicy(maxAttempts: settings.consumer.maxAttempts)
        retry.onThrottle = { concurrency.throttled() }
        var copier = BlobCopier(
            azure: azure, s3: s3, destinationPrefix: settings.destination.prefix,
            retry: retry,
            multipartThreshold: settings.consumer.multipartThreshold, partSize: settings.consumer.partSize,
            partsInFlight: 4,
            memory: MemoryBudget(
                totalBytes: settings.consumer.memoryBudget, concurrency: settings.consumer.concurrency,
                partSize: settings.consumer.partSize),
            logger: logger, objectHeaders: settings.destination.objectHeaders,
            overwrite: settings.destination.overwrite != "never")
        copier.storageClassByTier = settings.destination.storageClassesByTier
        copier.copyTags = settings.destination.copyTags
        copier.bandwidth = ByteRate(bytesPerSecond: settings.consumer.bandwidth, control: control)
        self.copier = copier
    }

    /// Checks that both clouds accept the credentials and the container and bucket exist,
    /// before any key is claimed.
    public func preflight() async throws {
        try await Preflight.checkSource(azure, logger: logger)
        try await Preflight.checkDestination(s3, logger: logger)
    }

    /// Copies until the job is complete (or forever with `wait_for_more`), a stop signal,
    /// or an error that needs a person.
    public func run() async throws -> Summary {
        let started = Date()
        try await preflight()
        guard let partitions = try await waitForJob() else {
            return summary(since: started, stoppedBy: nil)
        }
        logger.info("consumer \(id) (run \(runID)) copying with \(settings.consumer.concurrency) in flight")
        let queue = RedisWorkQueue(
            store: store, runID: runID, partitions: partitions, leaseSeconds: settings.consumer.leaseSeconds,
            maxAttempts: settings.consumer.maxAttempts)
        Metrics.process.declare(MeteredCopier.series)
        control.update(try await store.control())
        let watcher = Task { [control, store, logger] in
            await control.watch(store: store, interval: LiveControl.pollSeconds, logger: logger)
        }
        defer { watcher.cancel() }
        let loop = CopyLoop(
            queue: queue, copier: MeteredCopier(wrapped: copier), settings: settings.consumer, stopSignal: stopSignal,
            counters: counters, concurrency: concurrency, logger: logger, control: control)
        let stoppedBy = try await loop.run()
        return summary(since: started, stoppedBy: stoppedBy)
    }

    private func summary(since started: Date, stoppedBy: BlobferryError?) -> Summary {
        let totals = counters.snapshot()
        return Summary(
            copied: totals.copied, bytes: totals.bytes, failed: totals.failed, vanished: totals.vanished,
            directoryMarkers: totals.directoryMarkers,
            seconds: Date().timeIntervalSince(started), stoppedBy: stoppedBy)
    }

    /// Waits until a producer has created the job; returns its partitions.
    private func waitForJob() async throws -> [String]? {
        var announced = false
        while !stopSignal.isStopping {
            let fields = try await store.metaFields()
            if !fields.isEmpty {
                let meta = JobMeta(fields: fields)
                try meta.checkCompatible(with: settings, role: .consumer)
                if meta.destination.isEmpty || settings.rebind {
                    try await store.bind(JobMeta(settings: settings))
                }
                return try PartitionScheme(parsing: meta.partitions).partitions
            }
            if !announced {
                logger.info("job '\(settings.job)' has not been started by a producer yet; waiting")
                announced = true
            }
            try await Task.sleep(nanoseconds: 1_000_000_000)
        }
        return nil
    }

    static func defaultID() -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        return "\(host)-\(getpid())-\(UInt32.random(in: 0...UInt32.max) % 100_000)"
    }
}

extension RemoteError {
    /// The one line a person reads when a preflight check fails.
    func asStartupError(what: String, credentials: String) -> BlobferryError {
        switch kind {
        case .authorization:
            return BlobferryError(
                .credentials,
                "\(service.rawValue) rejected the credentials for \(what) (\(status.map(String.init) ?? "") \(code ?? "")): check \(credentials)",
                underlying: self)
        case .notFound:
            return BlobferryError(
                .notFound, "\(what) does not exist (\(service.rawValue) \(code ?? "404"))", underlying: self)
        case .transient:
            return BlobferryError(.unreachable, "\(what) is unreachable: \(self)", underlying: self)
        case .permanent:
            return BlobferryError(.failed, "\(what): \(self)", underlying: self)
        }
    }
}

/// Counts the copies in flight for `/metrics` around any `KeyCopier`, so neither the copy
/// loop nor `BlobCopier` needs to know about metrics.
struct MeteredCopier: KeyCopier {
    /// The series a consumer shows from its first scrape.
    static let series = [
        "blobferry_objects_copied_total", "blobferry_bytes_copied_total", "blobferry_objects_failed_total",
        "blobferry_objects_vanished_total", "blobferry_copies_in_flight",
    ]

    let wrapped: any KeyCopier

    func copy(_ item: ClaimedKey) async -> CopyResult {
        Metrics.process.add("blobferry_copies_in_flight", [], 1)
        defer { Metrics.process.add("blobferry_copies_in_flight", [], -1) }
        return await wrapped.copy(item)
    }

    func checkAccess() async throws { try await wrapped.checkAccess() }
}
