import BlobferryRedis
import Foundation
import Logging
import Synchronization
import Testing

@testable import Blobferry

/// The consumer's copy loop in-process, against an in-memory work queue and a scripted
/// copier: lost claim replies, refused keys, credentials that stop working, SIGTERM with
/// copies in flight and a lapsed lease, each checked for "every key ends in exactly one
/// place, copied at most once".
@Suite(.timeLimit(.minutes(3)))
struct CopyLoopTests {
    static let keys = (0..<40).map { ClaimedKey(key: "k\($0)", partition: $0 % 2 == 0 ? "A" : "B") }

    func settings(_ change: (inout ConsumerSettings) -> Void = { _ in }) -> ConsumerSettings {
        var settings = ConsumerSettings()
        settings.concurrency = 4
        settings.batch = 8
        settings.leaseSeconds = 2
        settings.maxAttempts = 3
        settings.authFailureLimit = 3
        change(&settings)
        return settings
    }

    func run(
        _ queue: FakeWorkQueue, _ copier: FakeCopier, settings: ConsumerSettings, stop: StopSignal = StopSignal()
    ) async throws -> BlobferryError? {
        let loop = CopyLoop(
            queue: queue, copier: copier, settings: settings, stopSignal: stop, counters: ProgressCounters(),
            concurrency: AdaptiveConcurrency(maximum: settings.concurrency), logger: Logger(label: "copy-loop-test"))
        return try await loop.run()
    }

    @Test func everyKeyIsCopiedOnceAndTheConsumerLeaves() async throws {
        let queue = FakeWorkQueue(Self.keys)
        let copier = FakeCopier()
        #expect(try await run(queue, copier, settings: settings()) == nil)
        let state = await queue.snapshot()
        #expect(state.done == Set(Self.keys.map(\.key)))
        #expect(state.queued.isEmpty && state.held.isEmpty && state.left)
        #expect(copier.copies.withLock { $0.values.allSatisfy { $0 == 1 } && $0.count == Self.keys.count })
    }

    /// The claim script ran but its reply was lost (connection dropped): the keys sit in
    /// this run's claims unknown to the loop, which reconciles and hands them back.
    @Test func aClaimWhoseReplyIsLostIsHandedBackAndCopiedOnce() async throws {
        let queue = FakeWorkQueue(Self.keys, loseReplyOfClaim: 2)
        let copier = FakeCopier()
        #expect(try await run(queue, copier, settings: settings()) == nil)
        let state = await queue.snapshot()
        #expect(state.done == Set(Self.keys.map(\.key)))
        #expect(state.held.isEmpty && state.queued.isEmpty)
        #expect(copier.copies.withLock { $0.values.allSatisfy { $0 == 1 } })
    }

    /// Issue 8.3: one key refused every time (a bucket policy on its prefix) uses up its
    /// attempts and lands in `failed` with the service's code; the rest is copied and the
    /// loop ends instead of retrying it forever.
    @Test func aKeyAlwaysRefusedEndsInFailedWithTheCode() async throws {
        let queue = FakeWorkQueue(Self.keys)
        let copier = FakeCopier { item in
            item.key == "k7" ? .rejected(Self.accessDenied) : nil
        }
        #expect(try await run(queue, copier, settings: settings()) == nil)
        let state = await queue.snapshot()
        #expect(state.failed == ["k7": "S3 403 AccessDenied"])
        #expect(state.done.count == Self.keys.count - 1)
        #expect(state.queued.isEmpty && state.held.isEmpty)
        #expect(copier.copies.withLock { $0["k7"] } == 3)
    }

    /// Every copy refused from the start: the credentials are at fault. The loop stops
    /// with a credentials error and hands every key back without charging an attempt.
    @Test func credentialsRefusedFromTheStartStopWithoutChargingAttempts() async throws {
        let queue = FakeWorkQueue(Self.keys)
        let copier = FakeCopier { _ in .rejected(Self.accessDenied) }
        let stopped = try await run(queue, copier, settings: settings())
        #expect(stopped?.code == .credentials)
        let state = await queue.snapshot()
        #expect(state.attempts.isEmpty && state.failed.isEmpty && state.done.isEmpty)
        #expect(Set(state.queued) == Set(Self.keys) && state.held.isEmpty)
    }

    /// Refusals after copies worked, and the start-up checks now refuse too (a rotated
    /// key): stop with the credentials error.
    @Test func refusalsWithFailingChecksStopTheConsumer() async throws {
        let queue = FakeWorkQueue(Self.keys)
        let copier = FakeCopier(accessFails: true) { item in
            Int(item.key.dropFirst()).map { $0 >= 10 } == true ? .rejected(Self.accessDenied) : nil
        }
        let stopped = try await run(queue, copier, settings: settings { $0.concurrency = 1 })
        #expect(stopped?.code == .credentials)
        let state = await queue.snapshot()
        #expect(state.failed.isEmpty && state.held.isEmpty)
        #expect(state.done.count + state.queued.count == Self.keys.count)
    }

    /// SIGTERM with copies in flight: they finish and are recorded, unstarted claims go
    /// back, nothing is lost.
    @Test func sigtermFinishesCopiesInFlightAndHandsBackTheRest() async throws {
        let queue = FakeWorkQueue(Self.keys)
        let stop = StopSignal()
        let copier = FakeCopier(delay: 0.05) { _ in
            stop.stop()
            return nil
        }
        #expect(try await run(queue, copier, settings: settings(), stop: stop) == nil)
        let state = await queue.snapshot()
        #expect(!state.done.isEmpty && state.done.count <= 4)
        #expect(state.done.count + state.queued.count == Self.keys.count)
        #expect(state.held.isEmpty && state.left)
    }

    /// A lapsed lease: the queue reaped this run's claims and gave them to another
    /// consumer. The loop drops the claims it had not started instead of copying them.
    @Test func aLapsedLeaseDropsClaimsNowInOtherHands() async throws {
        let queue = FakeWorkQueue(Self.keys, stealOnHeartbeat: 2)
        let copier = FakeCopier(delay: 0.2)
        #expect(
            try await run(
                queue, copier,
                settings: settings {
                    $0.concurrency = 1; $0.batch = 40
                }) == nil)
        let state = await queue.snapshot()
        let copiedHere = copier.copies.withLock { Set($0.keys) }
        #expect(!state.stolen.isEmpty)
        #expect(state.stolen.intersection(copiedHere).count <= 1, "only the copy in flight may overlap")
        #expect(state.held.isEmpty && state.queued.isEmpty)
    }

    /// `blobferry pause` mid-run: the copies in flight finish and are acknowledged, the
    /// unstarted claims go back, nothing more is claimed or copied while paused, and the
    /// loop neither exits nor leaves; resumed, it copies the rest, each key once.
    @Test func aPausedLoopFinishesInFlightHoldsNothingAndResumes() async throws {
        let queue = FakeWorkQueue(Self.keys)
        let control = LiveControl()
        let started = Mutex(0)
        let pausing = FakeCopier(delay: 0.05) { _ in
            if started.withLock({ count -> Int in
                count += 1
                return count
            }) == 3 {
                control.update(JobControl(paused: true))
            }
            return nil
        }
        var loop = CopyLoop(
            queue: queue, copier: pausing, settings: settings(), stopSignal: StopSignal(),
            counters: ProgressCounters(), concurrency: AdaptiveConcurrency(maximum: 4),
            logger: Logger(label: "copy-loop-test"))
        loop.control = control
        let running = Task { [loop] in try await loop.run() }
        var paused = await queue.snapshot()
        for _ in 0..<100 where !(paused.held.isEmpty && !paused.done.isEmpty) {
            try await Task.sleep(nanoseconds: 20_000_000)
            paused = await queue.snapshot()
        }
        try await Task.sleep(nanoseconds: 500_000_000)
        let later = await queue.snapshot()
        let copied = pausing.copies.withLock { $0.count }
        #expect(later.held.isEmpty && !later.left && later.done.count == copied && copied < Self.keys.count)
        #expect(later.done == paused.done && later.queued.count + later.done.count == Self.keys.count)

        control.update(JobControl())
        #expect(try await running.value == nil)
        let end = await queue.snapshot()
        #expect(end.done == Set(Self.keys.map(\.key)) && end.left)
        #expect(pausing.copies.withLock { $0.values.allSatisfy { $0 == 1 } })
    }

    /// Issue 8.5: after a reconnect (Redis away, perhaps longer than a lease) a consumer
    /// does not reap anyone for one lease period, so live consumers whose leases ran out
    /// during the outage get to heartbeat first.
    @Test func noReapingForOneLeaseAfterAReconnect() async throws {
        let queue = FakeWorkQueue([])
        let keeper = LeaseKeeper(queue: queue, leaseSeconds: 1.5, logger: Logger(label: "lease-test"))
        let heartbeats = Task { await keeper.run() }
        defer { heartbeats.cancel() }
        try await waitFor { await !queue.snapshot().reapFlags.isEmpty }
        await queue.reconnect()
        let reconnected = Date()
        // Polled, not slept: on a loaded machine heartbeats come late, never early.
        try await waitFor {
            let flags = await queue.snapshot().reapFlags
            return flags.count >= 3 && flags.last == true
        }
        let flags = await queue.snapshot().reapFlags
        let resumed = Date()
        #expect(flags.first == true, "reaps before any reconnect")
        #expect(flags.dropFirst().dropLast().contains(false), "skips reaping after the reconnect: \(flags)")
        #expect(resumed.timeIntervalSince(reconnected) >= 1.5, "reaps again only once a lease has passed")
    }

    func waitFor(_ condition: () async -> Bool) async throws {
        let deadline = Date().addingTimeInterval(40)
        while await !condition() {
            guard Date() < deadline else { throw BlobferryError(.failed, "condition not met within 40 s") }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
    }

    static let accessDenied = RemoteError(
        service: .s3, kind: .authorization, status: 403, code: "AccessDenied", message: "denied")
}

/// An in-memory queue protocol with the Redis scripts' rules: a claim moves keys to this
/// run's held set, acknowledgements and hand-backs count only what is held.
actor FakeWorkQueue: WorkQueue {
    struct Snapshot {
        var queued: [ClaimedKey]
        var held: Set<ClaimedKey>
        var done: Set<String>
        var failed: [String: String]
        var attempts: [String: Int]
        var stolen: Set<String>
        var left: Bool
        var reapFlags: [Bool] = []
    }

    nonisolated let partitionCount = 2
    private var state: Snapshot
    private var claims = 0
    private var heartbeats = 0
    private var generation = 0
    private let loseReplyOfClaim: Int?
    private let stealOnHeartbeat: Int?
    private let maxAttempts = 3

    init(_ keys: [ClaimedKey], loseReplyOfClaim: Int? = nil, stealOnHeartbeat: Int? = nil) {
        state = Snapshot(
            queued: keys, held: [], done: [], failed: [:], attempts: [:], stolen: [], left: false)
        self.loseReplyOfClaim = loseReplyOfClaim
        self.stealOnHeartbeat = stealOnHeartbeat
    }

    func snapshot() -> Snapshot { state }

    func claim(batch: Int, start: Int) async throws -> [ClaimedKey] {
        claims += 1
        let taken = Array(state.queued.prefix(batch))
        state.queued.removeFirst(taken.count)
        state.held.formUnion(taken)
        state.left = false
        if claims == loseReplyOfClaim {
            generation += 1
            throw BlobferryError(
                .unreachable, "connection lost", underlying: RedisError(.connectionLost, "reply lost"))
        }
        return taken
    }

    func acknowledge(_ outcomes: [(ClaimedKey, CopyOutcome)]) async throws {
        for (item, outcome) in outcomes {
            let owned = state.held.remove(item) != nil
            switch outcome {
            case .copied:
                state.done.insert(item.key)
                state.failed[item.key] = nil
            case .failed(let reason) where owned && !state.done.contains(item.key):
                state.failed[item.key] = reason
            default: break
            }
        }
    }

    func release(_ items: [ClaimedKey]) async throws -> Int {
        var moved = 0
        for item in items where state.held.remove(item) != nil {
            state.queued.append(item)
            moved += 1
        }
        return moved
    }

    func countAttempts(_ items: [(ClaimedKey, reason: String)]) async throws -> (requeued: Int, failed: Int) {
        var counts = (requeued: 0, failed: 0)
        for (item, reason) in items where state.held.remove(item) != nil {
            state.attempts[item.key, default: 0] += 1
            if state.attempts[item.key, default: 0] >= maxAttempts {
                state.failed[item.key] = reason
                state.attempts[item.key] = nil
                counts.failed += 1
            } else {
                state.queued.append(item)
                counts.requeued += 1
            }
        }
        return counts
    }

    func heldClaims() async throws -> [ClaimedKey] { Array(state.held) }

    func progress() async throws -> JobProgress {
        JobProgress(
            producerState: .listed, queued: state.queued.count, inflight: state.held.count, failed: state.failed.count)
    }

    /// On the chosen heartbeat, plays a reaper and another consumer: everything held (and
    /// queued) is taken away and copied elsewhere, and this run is told its lease lapsed.
    /// The connection was re-established (replies may have been lost).
    func reconnect() { generation += 1 }

    func heartbeat(reap: Bool) async throws -> HeartbeatResult {
        heartbeats += 1
        state.reapFlags.append(reap)
        guard heartbeats == stealOnHeartbeat else {
            return HeartbeatResult(lostLease: false, expired: 0, requeued: 0, failed: 0)
        }
        let taken = state.held.map(\.key) + state.queued.map(\.key)
        state.stolen.formUnion(taken)
        state.done.formUnion(taken)
        state.held.removeAll()
        state.queued.removeAll()
        return HeartbeatResult(lostLease: true, expired: 0, requeued: 0, failed: 0)
    }

    func connectionGeneration() async throws -> Int { generation }

    func leave() async throws { state.left = state.held.isEmpty }
}

/// A copier whose answer per key is scripted (nil = copy it), counting copies per key.
final class FakeCopier: KeyCopier {
    let copies = Mutex<[String: Int]>([:])
    private let delay: Double
    private let accessFails: Bool
    private let answer: @Sendable (ClaimedKey) -> CopyResult?

    init(
        delay: Double = 0, accessFails: Bool = false,
        answer: @escaping @Sendable (ClaimedKey) -> CopyResult? = { _ in nil }
    ) {
        self.delay = delay
        self.accessFails = accessFails
        self.answer = answer
    }

    func copy(_ item: ClaimedKey) async -> CopyResult {
        copies.withLock { $0[item.key, default: 0] += 1 }
        if delay > 0 { try? await Task.sleep(nanoseconds: UInt64(delay * 1_000_000_000)) }
        return answer(item) ?? .finished(.copied(bytes: 1))
    }

    func checkAccess() async throws {
        if accessFails { throw BlobferryError(.credentials, "S3 rejected the credentials") }
    }
}
