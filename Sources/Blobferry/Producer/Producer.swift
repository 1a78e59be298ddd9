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

    public init(settings: Settings, store: JobStore, azure: AzureBlobClient, stopSignal: StopSignal, logger: Logger)
        throws
    {
        self.settings = settings
        self.scheme = try PartitionScheme(parsing: settings.producer.partitions)
        self.store = store
        self.azure = azure
        self.stopSignal = stopSignal
        self.logger = logger
    }

    /// The running totals (for a progress display).
    public var progress: ProgressCounters { counters }

    /// Lists every partition to the end (or until stopped); throws on the first error that
    /// retries cannot fix. Returns nil when stopped by a signal before the end.
    public func run() async throws -> Summary? {
        let started = Date()
        try await Preflight.checkSource(azure, logger: logger)
        let (pass, resumed) = try await store.beginListing(settings: settings, scheme: scheme)
        logger.info(
            "\(resumed ? "resuming" : "starting") listing pass \(pass) of \(scheme.partitions.count) partitions (\(scheme.specification))"
        )
        let partitions = scheme.partitions
        let width = max(1, settings.producer.listers)
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            while next < min(width, partitions.count) {
                let partition = partitions[next]
                group.addTask { try await self.list(partition) }
                next += 1
            }
            while try await group.next() != nil {
                if next < partitions.count {
                    let partition = partitions[next]
                    group.addTask { try await self.list(partition) }
                    next += 1
                }
            }
        }
        if stopSignal.isStopping { return nil }
        try await store.finishListing()
        let totals = counters.snapshot()
        return Summary(
            pass: pass, resumed: resumed, listed: totals.listed, enqueued: totals.enqueued,
            seconds: Date().timeIntervalSince(started))
    }

    /// Lists one partition from its saved marker to the end.
    private func list(_ partition: String) async throws {
        var position = try await store.listingPosition(of: partition)
        if position.isListed { return }
        let prefix = scheme.listingPrefix(of: partition)
        let retry = RetryPolicy(maxAttempts: 8)
        while !stopSignal.isStopping {
            try await waitForRoom(in: partition)
            if stopSignal.isStopping { return }
            let marker = position.marker
            let page = try await retry.run(logger: logger, what: "listing partition \(partition)") {
                try await self.azure.listBlobs(
                    prefix: prefix, marker: marker, maxResults: self.settings.producer.pageSize,
                    includeMetadata: false, namesOnly: true)
            }
            let names = page.blobs.map(\.name).filter { scheme.partition(of: $0) == partition }
            let result = try await enqueue(
                partition: partition, from: position.marker, next: page.nextMarker, names: names)
            counters.add(listed: names.count, enqueued: result)
            guard let next = page.nextMarker else { return }
            position.marker = next
        }
    }

    /// Runs the enqueue script; after a lost reply, reads the cursor back to learn whether
    /// the page landed (the script refuses to apply a page twice).
    private func enqueue(partition: String, from marker: String, next: String?, names: [String]) async throws -> Int {
        while true {
            do {
                return try await store.enqueuePage(partition: partition, from: marker, next: next, keys: names).enqueued
            } catch let error as BlobferryError where error.isRedisInterruption {
                let position = try await store.listingPosition(of: partition)
                let landed = next == nil ? position.isListed : position.marker == next
                if landed { return 0 }
                if position.marker != marker {
                    throw BlobferryError(
                        .failed, "partition \(partition): cursor moved while enqueuing; is another producer running?")
                }
            }
        }
    }

    /// Back-pressure: waits while the partition's queue is over its bound.
    private func waitForRoom(in partition: String) async throws {
        var pause: UInt64 = 200_000_000
        while !stopSignal.isStopping,
            try await store.queueLength(of: partition) >= settings.producer.maxQueuedPerPartition
        {
            try await Task.sleep(nanoseconds: pause)
            pause = min(pause * 2, 2_000_000_000)
        }
    }
}
