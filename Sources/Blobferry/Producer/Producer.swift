import BlobferryCrypto
import BlobferryHTTP
import Foundation
import Logging

/// Lists the source container with one lister per partition, in parallel, and feeds the
/// partitions' Redis queues.
///
/// Each page goes to Redis in one atomic script that also saves the page's marker, so a
/// producer killed at any instant resumes exactly where Redis says it was. A partition
/// pauses while its queue is longer than the bound, so Redis memory follows the
/// consumers' pace, not the container's size.
public final class Producer: Sendable {
    /// Totals of one run, for the summary line.
    public struct Summary: Sendable {
        public var pass: Int
        public var resumed: Bool
        public var listed: Int
        public var enqueued: Int
        public var seconds: Double
    }

    private let settings: Settings
    private let scheme: PartitionScheme
    private let store: JobStore
    private let azure: AzureBlobClient
    private let logger: Logger
    private let counters = ProgressCounters()
    private let stopSignal: StopSignal
    /// This run's name in the producer lease.
    private let runID: String

    public init(settings: Settings, store: JobStore, azure: AzureBlobClient, stopSignal: StopSignal, logger: Logger)
        throws
    {
        self.settings = settings
        self.scheme = try PartitionScheme(parsing: settings.producer.partitions)
        self.store = store
        self.azure = azure
        self.stopSignal = stopSignal
        self.logger = logger
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        self.runID = "producer-\(host)-\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 36))"
    }

    /// The running totals (for a progress display).
    public var progress: ProgressCounters { counters }

    /// Lists every partition to the end (or until stopped); throws on the first error that
    /// retries cannot fix. Returns nil when stopped by a signal before the end.
    public func run() async throws -> Summary? {
        let started = Date()
        try await Preflight.checkSource(azure, logger: logger)
        try await acquireLease()
        do {
            // Listing and lease renewal side by side: whichever ends first ends the run (a
            // lost lease throws and cancels the listers).
            let summary: Summary? = try await withThrowingTaskGroup(of: Summary?.self) { group in
                group.addTask {
                    try await self.keepLease()
                    throw CancellationError()
                }
                group.addTask { try await self.listAll(started: started) }
                defer { group.cancelAll() }
                guard let first = try await group.next() else { return nil }
                return first
            }
            try await store.releaseProducerLease(runID)
            return summary
        } catch {
            try? await store.releaseProducerLease(runID)
            throw error
        }
    }

    private func listAll(started: Date) async throws -> Summary? {
        let (pass, resumed, since) = try await store.beginListing(settings: settings, scheme: scheme)
        logger.info(
            "\(resumed ? "resuming" : "starting") listing pass \(pass) of \(scheme.partitions.count) partitions (\(scheme.specification))"
        )
        if let since {
            logger.info(
                "delta pass: blobs modified at or after \(HTTPDate.rfc1123(since)) (Azure's clock at the previous pass's start) are copied again"
            )
        } else if pass > 1 {
            logger.warning(
                "pass \(pass): the previous pass recorded no start by Azure's clock; only new blobs are copied")
        }
        let partitions = scheme.partitions
        let width = max(1, settings.producer.listers)
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            while next < min(width, partitions.count) {
                let partition = partitions[next]
                group.addTask { try await self.list(partition, pass: pass, changedSince: since) }
                next += 1
            }
            while try await group.next() != nil {
                if next < partitions.count {
                    let partition = partitions[next]
                    group.addTask { try await self.list(partition, pass: pass, changedSince: since) }
                    next += 1
                }
            }
        }
        if stopSignal.isStopping { return nil }
        let deleted = try await store.finishListing(scheme: scheme)
        if deleted > 0 {
            logger.info(
                "\(deleted) copied blobs were not listed by this pass (deleted in Azure): `blobferry deleted` lists them"
            )
        }
        let totals = counters.snapshot()
        return Summary(
            pass: pass, resumed: resumed, listed: totals.listed, enqueued: totals.enqueued,
            seconds: Date().timeIntervalSince(started))
    }

    /// Lists one partition from its saved marker to the end. With `changedSince` (a delta
    /// pass), names whose Last-Modified is at or after it go to Redis as changed, so a done
    /// blob overwritten since the previous pass started is copied again.
    private func list(_ partition: String, pass: Int, changedSince: Date?) async throws {
        var position = try await store.listingPosition(of: partition)
        if position.isListed { return }
        let prefix = scheme.listingPrefix(of: partition)
        let retry = RetryPolicy(maxAttempts: 8)
        let plan = ReadPlan(consumer: settings.consumer)
        while !stopSignal.isStopping {
            try await waitForRoom(in: partition)
            if stopSignal.isStopping { return }
            let marker = position.marker
            let page = try await retry.run(logger: logger, what: "listing partition \(partition)") {
                try await self.azure.listBlobs(
                    prefix: prefix, marker: marker, maxResults: self.settings.producer.pageSize,
                    includeMetadata: false, namesOnly: true)
            }
            var names: [String] = []
            var changed: [String] = []
            var sizes = PageSizes()
            for blob in page.blobs where scheme.partition(of: blob.name) == partition {
                sizes.add(name: blob.name, size: blob.size, plan: plan)
                // A blob without a Last-Modified is taken as changed: copying it again is
                // safe, missing a change is not.
                if let changedSince, (blob.lastModified ?? changedSince) >= changedSince {
                    changed.append(blob.name)
                } else {
                    names.append(blob.name)
                }
            }
            switch try await enqueue(
                partition: partition, from: position.marker, next: page.nextMarker, names: names, changed: changed,
                pass: pass, listedAt: page.date, sizes: sizes)
            {
            case .enqueued(let count, _):
                counters.add(listed: names.count + changed.count, enqueued: count)
                Metrics.process.add("blobferry_list_pages_total", [("partition", partition)])
                Metrics.process.add(
                    "blobferry_keys_listed_total", [("partition", partition)], Double(names.count + changed.count))
                Metrics.process.add("blobferry_keys_enqueued_total", [("partition", partition)], Double(count))
                guard let next = page.nextMarker else { return }
                position.marker = next
            case .cursorElsewhere:
                // Only the lease holder writes cursors, so Redis lost a write (a restart
                // with `appendfsync everysec`): carry on from what Redis has. Pages listed
                // again are harmless (done keys are skipped, copies are idempotent).
                position = try await store.listingPosition(of: partition)
                logger.warning(
                    "partition \(partition): Redis's listing marker is not where this producer left it (writes lost in a Redis restart?); resuming from Redis's"
                )
                if position.isListed { return }
            }
        }
    }

    /// Runs the enqueue script; after a lost reply, reads the cursor back to learn whether
    /// the page landed (the script never applies a page twice).
    private func enqueue(
        partition: String, from marker: String, next: String?, names: [String], changed: [String], pass: Int,
        listedAt: Date?, sizes: PageSizes
    ) async throws -> EnqueueResult {
        while true {
            do {
                return try await store.enqueuePage(
                    producer: runID, partition: partition, from: marker, next: next, keys: names, changed: changed,
                    pass: pass, listedAt: listedAt, sizes: sizes)
            } catch let error as BlobferryError where error.isRedisInterruption {
                let position = try await store.listingPosition(of: partition)
                let landed = next == nil ? position.isListed : position.marker == next
                if landed { return .enqueued(count: 0, queueLength: 0) }
            } catch let error as BlobferryError where error.isLeaseLost {
                // The lease expired while Redis was away (or restarted): take it again if
                // nobody else did; the script's cursor check keeps the page exactly-once.
                guard try await store.holdProducerLease(runID, seconds: settings.producer.leaseSeconds) else {
                    throw BlobferryError(
                        .failed,
                        "this producer lost job '\(settings.job)''s producer lease; another producer is listing")
                }
                logger.warning(
                    "the producer lease had expired (Redis unreachable longer than the lease?); took it again")
            }
        }
    }

    /// Takes the job's producer lease, waiting out a previous producer's (one that died
    /// holding it lets it expire); a live producer keeps renewing it, and this one gives up.
    private func acquireLease() async throws {
        let lease = settings.producer.leaseSeconds
        let deadline = Date().addingTimeInterval(lease * 2 + 1)
        var announced = false
        while try await !store.holdProducerLease(runID, seconds: lease) {
            guard Date() < deadline, !stopSignal.isStopping else {
                throw BlobferryError(
                    .failed,
                    "another producer is listing job '\(settings.job)' (it holds the producer lease and renews it); stop it first"
                )
            }
            if !announced {
                logger.warning(
                    "another producer holds job '\(settings.job)''s producer lease; waiting for it to expire")
                announced = true
            }
            try await Task.sleep(nanoseconds: 500_000_000)
        }
    }

    /// Renews the lease every third of its length until cancelled; a lease lost (this
    /// process was paused longer than the lease and another producer took over) throws.
    private func keepLease() async throws {
        let lease = settings.producer.leaseSeconds
        while true {
            try await Task.sleep(nanoseconds: UInt64(lease / 3 * 1_000_000_000))
            let held: Bool
            do {
                held = try await store.holdProducerLease(runID, seconds: lease)
            } catch let error as BlobferryError where error.code == .unreachable || error.isRedisInterruption {
                logger.warning("renewing the producer lease failed: \(error.message)")
                continue
            }
            if !held {
                throw BlobferryError(
                    .failed, "this producer lost job '\(settings.job)''s producer lease; another producer is listing")
            }
        }
    }

    /// Back-pressure: waits while the partition's queue is over its bound, and while the
    /// job is paused (`blobferry pause`: the cursors stay where the last page left them).
    private func waitForRoom(in partition: String) async throws {
        var pause: UInt64 = 200_000_000
        var announced = false
        while !stopSignal.isStopping {
            if try await store.control().paused {
                if !announced { logger.info("partition \(partition): job paused; listing waits for blobferry resume") }
                announced = true
                try await Task.sleep(nanoseconds: UInt64(LiveControl.pollSeconds * 1_000_000_000))
                continue
            }
            guard try await store.queueLength(of: partition) >= settings.producer.maxQueuedPerPartition else { return }
            try await Task.sleep(nanoseconds: pause)
            pause = min(pause * 2, 2_000_000_000)
        }
    }
}
