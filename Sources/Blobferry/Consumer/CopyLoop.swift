import DequeModule
import Foundation
import Logging

/// The consumer's main loop: one task per copy in a task group, claims and
/// acknowledgements in batches, and the bookkeeping that guarantees every claimed key
/// ends up acknowledged or handed back. It sees the job only through a `WorkQueue` and
/// copies only through a `KeyCopier`, so it is tested in-process with fakes.
struct CopyLoop {
    let queue: any WorkQueue
    let copier: any KeyCopier
    let settings: ConsumerSettings
    let stopSignal: StopSignal
    let counters: ProgressCounters
    /// Copies in flight, halved on throttling and grown back on success.
    let concurrency: AdaptiveConcurrency
    let logger: Logger
    /// The job's pause and live concurrency cap (`blobferry pause`, `blobferry limits`).
    var control = LiveControl()

    /// Copies allowed in flight now: the adaptive limit under the live cap, if one is set.
    private var limit: Int { min(concurrency.limit, control.current.concurrency ?? Int.max) }

    /// Runs until the job is complete, a stop signal, or a stop for credentials; returns
    /// the error that stopped it early, if any.
    func run() async throws -> BlobferryError? {
        let lease = LeaseKeeper(queue: queue, leaseSeconds: settings.leaseSeconds, logger: logger)
        let heartbeat = Task { await lease.run() }
        defer { heartbeat.cancel() }
        var state = LoopState(partitionCount: queue.partitionCount)
        state.generation = try await queue.connectionGeneration()
        try await withThrowingTaskGroup(of: (ClaimedKey, CopyResult).self) { group in
            while state.stoppedBy == nil, !stopSignal.isStopping {
                if lease.lapseCount != state.lapsesSeen {
                    state.lapsesSeen = lease.lapseCount
                    try await dropClaimsNoLongerHeld(&state)
                }
                let paused = control.isPaused
                if paused != state.paused {
                    state.paused = paused
                    logger.info(
                        paused
                            ? "paused: finishing \(state.running) copies in flight, claiming nothing until resumed"
                            : "resumed")
                }
                if paused {
                    try await handBackPending(&state)
                } else if state.pending.count < settings.concurrency {
                    try await claimMore(&state)
                }
                while !paused, state.running < limit, let item = state.pending.popFirst() {
                    state.start(item)
                    group.addTask { [copier] in (item, await copier.copy(item)) }
                }
                if state.running == 0 {
                    try await flush(&state, chargeRefusals: true)
                    if paused {
                        // The lease keeper goes on renewing the lease: a paused consumer
                        // is not reaped, and holds nothing.
                        try await Task.sleep(nanoseconds: 200_000_000)
                        continue
                    }
                    if try await idle(&state) { break }
                    continue
                }
                guard let (item, result) = try await group.next() else { continue }
                try await finish(item, result, &state)
            }
            // Stopping: let the copies in flight finish, then record them.
            while let (item, result) = try await group.next() {
                try await finish(item, result, &state)
            }
        }
        try await flush(&state, chargeRefusals: true)
        let handedBack = try await queue.release(Array(state.pending) + state.rejected)
        if handedBack > 0 { logger.info("handed \(handedBack) unstarted claims back to their queues") }
        try await queue.leave()
        return state.stoppedBy
    }

    /// Paused: claims not started go back to their queues at once (the copies in flight
    /// finish and are acknowledged as usual).
    private func handBackPending(_ state: inout LoopState) async throws {
        guard !state.pending.isEmpty else { return }
        let items = Array(state.pending)
        state.pending.removeAll()
        let moved = try await queue.release(items)
        logger.info("paused: handed \(moved) unstarted claims back to their queues")
    }

    private func claimMore(_ state: inout LoopState) async throws {
        guard Date() >= state.nextClaim else { return }
        do {
            let claimed = try await queue.claim(batch: settings.batch, start: state.nextPartition)
            state.nextPartition = (state.nextPartition + 1) % max(1, queue.partitionCount)
            state.pending.append(contentsOf: claimed)
            state.lastClaimWasEmpty = claimed.isEmpty
            if claimed.isEmpty { state.nextClaim = Date().addingTimeInterval(0.2) }
        } catch let error as BlobferryError where error.isRedisInterruption {
            // The claim may have run without us seeing its reply: those keys sit in our
            // in-flight hash unknown to us. Reconcile once the connection is back.
            logger.warning("claim interrupted (\(error.message)); reconciling claims")
            try await reconcile(&state)
        }
        if try await queue.connectionGeneration() != state.generation {
            logger.info("Redis connection re-established; reconciling claims")
            try await reconcile(&state)
        }
    }

    /// Records one finished copy and, every batch or half second, acknowledges.
    private func finish(_ item: ClaimedKey, _ result: CopyResult, _ state: inout LoopState) async throws {
        state.end(item)
        switch result {
        case .finished(let outcome):
            counters.record(outcome)
            state.acks.append((item, outcome))
            if case .copied = outcome {
                concurrency.succeeded()
                state.consecutiveRefusals = 0
                state.copiedAny = true
            }
            if case .failed(let reason) = outcome { logger.error("failed \(item.key.escapedForDisplay): \(reason)") }
        case .rejected(let error):
            let reason = "\(error.service.rawValue) \(error.status.map(String.init) ?? "") \(error.code ?? "refused")"
            logger.warning("refused \(item.key.escapedForDisplay): \(reason)")
            guard state.stoppedBy == nil else {
                // Already stopping (the credentials are at fault): no attempt charged.
                state.rejected.append(item)
                break
            }
            state.refused.append((item, reason))
            state.consecutiveRefusals += 1
            if state.consecutiveRefusals >= settings.authFailureLimit {
                try await decideAboutRefusals(error, &state)
            }
        case .fatal(let error):
            state.rejected.append(item)
            if state.stoppedBy == nil {
                state.stoppedBy = error.asStartupError(what: "the copy destination", credentials: "")
            }
        }
        if state.acks.count >= settings.batch || Date().timeIntervalSince(state.lastFlush) > 0.5 {
            try await flush(&state)
        }
    }

    /// A run of refusals: credentials that stopped working, or keys a policy denies? Stop
    /// (exit 3) only if nothing was copied yet in this run or the start-up checks now
    /// reject the credentials too; otherwise carry on, each refusal costing its key an
    /// attempt.
    private func decideAboutRefusals(_ error: RemoteError, _ state: inout LoopState) async throws {
        var stop = !state.copiedAny
        if !stop {
            do {
                try await copier.checkAccess()
            } catch let failure as BlobferryError where failure.code == .credentials {
                stop = true
            } catch {
                logger.warning("re-checking access after \(state.consecutiveRefusals) refusals failed: \(error)")
            }
        }
        guard stop else {
            logger.warning(
                "\(state.consecutiveRefusals) refusals in a row, but the start-up checks still pass: treating them as refusals of these keys (each counts an attempt)"
            )
            state.consecutiveRefusals = 0
            return
        }
        state.stoppedBy = BlobferryError(
            .credentials,
            "\(error.service.rawValue) rejected the credentials \(state.consecutiveRefusals) times in a row (\(error.status.map(String.init) ?? "") \(error.code ?? "")): check \(error.service == .azure ? "the Azure key or SAS token" : "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"); keys stay queued",
            underlying: error)
        // The credentials are at fault, not the keys: no attempt is charged.
        state.rejected += state.refused.map(\.0)
        state.refused.removeAll()
    }

    /// Records outcomes, and charges refusals an attempt once they are known to be about
    /// the keys (a copy succeeded since, or the access check passed) or nothing else is
    /// left to learn from (`chargeRefusals`: nothing in flight).
    private func flush(_ state: inout LoopState, chargeRefusals: Bool = false) async throws {
        state.lastFlush = Date()
        if !state.acks.isEmpty {
            try await queue.acknowledge(state.acks)
            state.acks.removeAll(keepingCapacity: true)
        }
        if !state.refused.isEmpty, chargeRefusals || state.consecutiveRefusals == 0 {
            let counted = try await queue.countAttempts(state.refused)
            if counted.failed > 0 { logger.error("\(counted.failed) refused key(s) out of attempts, moved to failed") }
            state.refused.removeAll()
        }
    }

    /// Nothing in flight and nothing claimed: is the job complete? Returns true to exit.
    private func idle(_ state: inout LoopState) async throws -> Bool {
        guard state.lastClaimWasEmpty else { return false }
        let progress = try await queue.progress()
        if progress.isComplete && !settings.waitForMore {
            logger.info(
                progress.failed == 0 ? "job complete" : "job complete with \(progress.failed) failed key(s)")
            return true
        }
        // Back off while the queues are empty (the producer is listing, or another
        // consumer's expired claims are not yet back).
        state.idlePause = min(max(state.idlePause * 2, 0.05), 1.0)
        state.nextClaim = Date().addingTimeInterval(state.idlePause)
        try await Task.sleep(nanoseconds: UInt64(state.idlePause * 1_000_000_000))
        return false
    }

    /// Hands back every claim Redis holds for us that this process does not know about
    /// (a claim whose reply was lost, or an acknowledgement Redis lost in a crash).
    private func reconcile(_ state: inout LoopState) async throws {
        state.generation = try await queue.connectionGeneration()
        let known = state.knownKeys
        let orphans = try await queue.heldClaims().filter { !known.contains($0) }
        if !orphans.isEmpty {
            let moved = try await queue.release(orphans)
            logger.info("handed back \(moved) claims this process had lost track of")
        }
    }

    /// After a lapsed lease: claims not started yet that Redis no longer holds for us were
    /// reaped and may be in other hands; drop them without copying or acknowledging.
    /// (Copies already running finish; a late failure report from them counts for nothing.)
    private func dropClaimsNoLongerHeld(_ state: inout LoopState) async throws {
        let held = Set(try await queue.heldClaims())
        let before = state.pending.count
        state.pending = Deque(state.pending.filter { held.contains($0) })
        state.rejected = state.rejected.filter { held.contains($0) }
        if before != state.pending.count {
            logger.warning("dropped \(before - state.pending.count) claims reaped while this consumer was away")
        }
    }
}

/// The consumer loop's bookkeeping: every claimed key is in exactly one of `pending`,
/// `active`, `acks`, `refused` or `rejected` until Redis has recorded it.
private struct LoopState {
    var pending = Deque<ClaimedKey>()
    var active: [ClaimedKey: Int] = [:]
    var running = 0
    var acks: [(ClaimedKey, CopyOutcome)] = []
    /// Refused for this key (403 on one key): an attempt is counted when flushed.
    var refused: [(ClaimedKey, reason: String)] = []
    /// To hand back untouched (credentials at fault, or stopping).
    var rejected: [ClaimedKey] = []
    var consecutiveRefusals = 0
    var copiedAny = false
    var stoppedBy: BlobferryError?
    var lastFlush = Date()
    var lastClaimWasEmpty = false
    var nextClaim = Date.distantPast
    var idlePause = 0.0
    var nextPartition: Int
    var generation = 0
    var lapsesSeen = 0
    var paused = false

    init(partitionCount: Int) {
        nextPartition = Int.random(in: 0..<max(1, partitionCount))
    }

    mutating func start(_ item: ClaimedKey) {
        active[item, default: 0] += 1
        running += 1
        idlePause = 0
    }

    mutating func end(_ item: ClaimedKey) {
        running -= 1
        if let count = active[item], count > 1 { active[item] = count - 1 } else { active[item] = nil }
    }

    var knownKeys: Set<ClaimedKey> {
        var keys = Set(active.keys)
        keys.formUnion(pending)
        keys.formUnion(acks.map(\.0))
        keys.formUnion(refused.map(\.0))
        keys.formUnion(rejected)
        return keys
    }
}
