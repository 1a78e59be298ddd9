import BlobferryCrypto
import BlobferryHTTP
import Foundation
import Logging

/// Lists the source container in parallel, one listing unit at a time per lister (a
/// partition's prefix, a gap between prefixes, or a sub-range split off a large unit), and
/// feeds the partitions' Redis queues.
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
        /// Names the include/exclude/modified filter left out.
        public var filteredOut: Int
        public var seconds: Double
    }

    private let settings: Settings
    private let scheme: PartitionScheme
    /// What the job migrates of what is listed.
    private let filter: ListingFilter
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
        self.filter = ListingFilter(settings: settings.source)
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
        var units = try await store.listingUnits()
        if units.isEmpty {
            var byRanges = false
            if scheme.gaps != nil { byRanges = try await serviceTakesStartFrom() }
            units = try await store.recordRootUnits(scheme.rootUnits(byRanges: byRanges))
        }
        // A catch-all that sweeps everything means the service lists without startFrom:
        // nothing can split either.
        let splits = !units.contains { $0.id == PartitionScheme.catchAll }
        let width = max(1, settings.producer.listers)
        let pool = ListingPool(units: units, listers: width)
        logger.info("\(units.count) listing units, \(width) listers\(splits ? "" : ", no splitting")")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<width {
                group.addTask {
                    while let unit = try await pool.next() {
                        try await self.list(unit, pool: pool, splits: splits, pass: pass, changedSince: since)
                        await pool.release()
                        if self.stopSignal.isStopping { return }
                    }
                }
            }
            try await group.waitForAll()
        }
        if stopSignal.isStopping { return nil }
        // Every unit is listed: so is every partition, even one no unit covers.
        try await store.markPartitionsListed(scheme.partitions)
        let deleted = try await store.finishListing(scheme: scheme)
        if deleted > 0 {
            logger.info(
                "\(deleted) copied blobs were not listed by this pass (deleted in Azure): `blobferry deleted` lists them"
            )
        }
        let totals = counters.snapshot()
        return Summary(
            pass: pass, resumed: resumed, listed: totals.listed, enqueued: totals.enqueued,
            filteredOut: totals.filteredOut, seconds: Date().timeIntervalSince(started))
    }

    /// Whether List Blobs honours `startFrom` here (two one-name requests at a pass's start):
    /// a service older than 2026-02-06 rejects the version (4xx), an older emulator ignores
    /// the parameter (the name it returns sorts below `startFrom`). Either way the
    /// catch-all sweeps the whole container as before, and one warning says so.
    private func serviceTakesStartFrom() async throws -> Bool {
        let retry = RetryPolicy(maxAttempts: 8)
        let first = try await retry.run(logger: logger, what: "listing the first name") {
            try await self.azure.listBlobs(
                prefix: "", marker: nil, maxResults: 1, includeMetadata: false, namesOnly: true)
        }.blobs.first?.name
        let probe = first.flatMap(ListingUnit.successor(of:)) ?? "0"
        let answer: String?
        do {
            answer = try await retry.run(logger: logger, what: "listing with startFrom") {
                try await self.azure.listBlobs(
                    prefix: "", marker: nil, maxResults: 1, includeMetadata: false, namesOnly: true, startFrom: probe)
            }.blobs.first?.name
        } catch let error as RemoteError where error.kind == .permanent && (400..<500).contains(error.status ?? 0) {
            logger.warning(
                "the source rejects List Blobs' startFrom (version \(AzureBlobClient.startFromVersion): \(error)); the catch-all lister sweeps the whole container"
            )
            return false
        }
        if let answer, !ListingUnit.precedes(probe, answer), answer != probe {
            logger.warning(
                "the source ignores List Blobs' startFrom (it listed a name below it); the catch-all lister sweeps the whole container"
            )
            return false
        }
        return true
    }

    /// Lists one unit from its saved marker to its end: the end of its prefix, or its upper
    /// bound (it stops asking once names pass it). With `changedSince` (a delta pass),
    /// names whose Last-Modified is at or after it go to Redis as changed, so a done blob
    /// overwritten since the previous pass started is copied again. A full page while
    /// listers sit idle splits the rest of the range (recorded before the cursor moves).
    private func list(_ start: ListingUnit, pool: ListingPool, splits: Bool, pass: Int, changedSince: Date?)
        async throws
    {
        var unit = start
        var position = try await store.listingPosition(of: unit)
        let partition = unit.partition
        let retry = RetryPolicy(maxAttempts: 8)
        let plan = ReadPlan(consumer: settings.consumer)
        while !stopSignal.isStopping && !position.isListed {
            try await waitForRoom(in: partition)
            if stopSignal.isStopping { return }
            let marker = position.marker
            let current = unit
            let page = try await retry.run(logger: logger, what: "listing unit \(current.id)") {
                try await self.azure.listBlobs(
                    prefix: current.prefix, marker: marker, maxResults: self.settings.producer.pageSize,
                    includeMetadata: false, namesOnly: true, startFrom: current.startFrom)
            }
            var finished = page.nextMarker == nil
            var mine: [BlobItem] = []
            var filteredOut: [String] = []
            for blob in page.blobs {
                if unit.isPast(blob.name) {
                    finished = true
                } else if unit.contains(blob.name) && scheme.partition(of: blob.name) == partition {
                    if filter.admits(blob) {
                        mine.append(blob)
                    } else {
                        filteredOut.append(blob.name)
                    }
                }
            }
            if !finished, splits, unit.depth < Self.maxSplitDepth, await pool.maySplit {
                let idle = await pool.idleListers
                if idle > 0, let plan = unit.split(after: page.blobs.map(\.name).filter(unit.contains), pieces: idle) {
                    switch try await store.splitUnit(
                        producer: runID, old: unit, parent: plan.parent, children: plan.children, at: marker)
                    {
                    case .recorded:
                        await pool.split(parent: plan.parent, children: plan.children)
                        logger.debug("unit \(unit.id) split into \(plan.children.count + 1) ranges")
                        unit = plan.parent
                        Self.testHookAfterSplit()
                    case .unitMoved:
                        if let stored = try await store.listingUnits().first(where: { $0.id == unit.id }) {
                            unit = stored
                        }
                    }
                }
            }
            var names: [String] = []
            var changed: [String] = []
            var sizes = PageSizes()
            for blob in mine {
                sizes.add(name: blob.name, size: blob.size, plan: plan)
                // A blob without a Last-Modified is taken as changed: copying it again is
                // safe, missing a change is not.
                if let changedSince, (blob.lastModified ?? changedSince) >= changedSince {
                    changed.append(blob.name)
                } else {
                    names.append(blob.name)
                }
            }
            let next = finished ? nil : page.nextMarker
            try await store.markSeen(partition: partition, names: filteredOut)
            switch try await enqueue(
                unit: unit, from: position.marker, next: next, names: names, changed: changed, pass: pass,
                listedAt: page.date, sizes: sizes)
            {
            case .enqueued(let count, _):
                counters.add(listed: names.count + changed.count, enqueued: count, filteredOut: filteredOut.count)
                if !filteredOut.isEmpty {
                    Metrics.process.add(
                        "blobferry_keys_filtered_total", [("partition", partition)], Double(filteredOut.count))
                }
                Metrics.process.add("blobferry_list_pages_total", [("partition", partition)])
                Metrics.process.add(
                    "blobferry_keys_listed_total", [("partition", partition)], Double(names.count + changed.count))
                Metrics.process.add("blobferry_keys_enqueued_total", [("partition", partition)], Double(count))
                if let next {
                    position.marker = next
                } else {
                    position.isListed = true
                }
            case .cursorElsewhere:
                // Only the lease holder writes cursors, so Redis lost a write (a restart
                // with `appendfsync everysec`): carry on from what Redis has. Pages listed
                // again are harmless (done keys are skipped, copies are idempotent).
                position = try await store.listingPosition(of: unit)
                logger.warning(
                    "listing unit \(unit.id): Redis's listing marker is not where this producer left it (writes lost in a Redis restart?); resuming from Redis's"
                )
            }
        }
        if position.isListed, await pool.finish(unit) {
            try await store.markPartitionsListed([partition])
        }
    }

    /// Splits of splits stop here (a range is then at most pieces^depth times smaller).
    static let maxSplitDepth = 6

    /// Test hook: `BLOBFERRY_TEST_EXIT_AFTER_SPLIT=1` ends the process right after a split
    /// is recorded and before the parent's page is enqueued, as a kill at that instant
    /// would (the tests resume from there).
    private static func testHookAfterSplit() {
        if ProcessInfo.processInfo.environment["BLOBFERRY_TEST_EXIT_AFTER_SPLIT"] == "1" {
            FileHandle.standardError.write(Data("test hook: exiting right after a split\n".utf8))
            exit(86)
        }
    }

    /// Runs the enqueue script; after a lost reply, reads the cursor back to learn whether
    /// the page landed (the script never applies a page twice).
    private func enqueue(
        unit: ListingUnit, from marker: String, next: String?, names: [String], changed: [String], pass: Int,
        listedAt: Date?, sizes: PageSizes
    ) async throws -> EnqueueResult {
        while true {
            do {
                return try await store.enqueuePage(
                    producer: runID, partition: unit.partition, unit: unit.id, from: marker, next: next, keys: names,
                    changed: changed, pass: pass, listedAt: listedAt, sizes: sizes)
            } catch let error as BlobferryError where error.isRedisInterruption {
                let position = try await store.listingPosition(of: unit)
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
