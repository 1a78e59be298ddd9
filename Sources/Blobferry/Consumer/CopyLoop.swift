import DequeModule
import Foundation
import Logging

/// The consumer's main loop: one task per copy in a task group, claims and
/// acknowledgements in batches, and the bookkeeping that guarantees every claimed key
/// ends up acknowledged or handed back.
struct CopyLoop {
    let consumer: Consumer
    let partitions: [String]

    private var settings: ConsumerSettings { consumer.settings.consumer }
    private var store: JobStore { consumer.store }
    private var logger: Logger { consumer.logger }

    /// Runs until the job is complete, a stop signal, or a stop for credentials; returns
    /// the error that stopped it early, if any.
    func run() async throws -> BlobferryError? {
        var state = LoopState(partitionCount: partitions.count)
        state.reconnects = try await store.reconnectCount()
        try await withThrowingTaskGroup(of: (ClaimedKey, CopyResult).self) { group in
            while state.stoppedBy == nil, !consumer.stopSignal.isStopping {
                if state.pending.count < settings.concurrency {
                    try await claimMore(&state)
                }
                while state.running < settings.concurrency, let item = state.pending.popFirst() {
                    state.start(item)
                    group.addTask { (item, await consumer.copier.copy(item)) }
                }
                if state.running == 0 {
                    try await flush(&state)
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
        try await flush(&state)
        let handedBack = try await store.release(consumer: consumer.id, Array(state.pending) + state.rejected)
        if handedBack > 0 { logger.info("handed \(handedBack) unstarted claims back to their queues") }
        try await store.leave(consumer: consumer.id)
        return state.stoppedBy
    }

    private func claimMore(_ state: inout LoopState) async throws {
        guard Date() >= state.nextClaim else { return }
        do {
            let claimed = try await store.claim(
                consumer: consumer.id, leaseSeconds: settings.leaseSeconds, batch: settings.batch,
                partitions: partitions, start: state.nextPartition)
            state.nextPartition = (state.nextPartition + 1) % max(1, partitions.count)
            state.pending.append(contentsOf: claimed)
            state.lastClaimWasEmpty = claimed.isEmpty
            if claimed.isEmpty { state.nextClaim = Date().addingTimeInterval(0.2) }
        } catch let error as BlobferryError where error.isRedisInterruption {
            // The claim may have run without us seeing its reply: those keys sit in our
            // in-flight hash unknown to us. Reconcile once the connection is back.
            logger.warning("claim interrupted (\(error.message)); reconciling claims")
            try await reconcile(&state)
        }
        try await reconcileIfReconnected(&state)
    }

    /// Records one finished copy and, every batch or half second, acknowledges.
    private func finish(_ item: ClaimedKey, _ result: CopyResult, _ state: inout LoopState) async throws {
        state.end(item)
        switch result {
        case .finished(let outcome):
            consumer.counters.record(outcome)
            state.acks.append((item, outcome))
            if case .copied = outcome { state.consecutiveRejections = 0 }
            if case .failed(let reason) = outcome { logger.error("failed \(item.key): \(reason)") }
        case .rejected(let error):
            state.rejected.append(item)
            state.consecutiveRejections += 1
            if state.consecutiveRejections >= settings.authFailureLimit, state.stoppedBy == nil {
                state.stoppedBy = BlobferryError(
                    .credentials,
                    "\(error.service.rawValue) rejected the credentials \(state.consecutiveRejections) times in a row (\(error.status.map(String.init) ?? "") \(error.code ?? "")): check \(error.service == .azure ? "the Azure key or SAS token" : "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"); keys stay queued",
                    underlying: error)
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

    private func flush(_ state: inout LoopState) async throws {
        state.lastFlush = Date()
        if !state.acks.isEmpty {
            try await store.acknowledge(consumer: consumer.id, state.acks)
            state.acks.removeAll(keepingCapacity: true)
        }
        if !state.rejected.isEmpty && state.stoppedBy == nil {
            // Credentials failing now may be fixed in a moment (a rotated key); the keys
            // go back to their queues for whoever has working credentials.
            try await store.release(consumer: consumer.id, state.rejected)
            state.rejected.removeAll()
        }
    }

    /// Nothing in flight and nothing claimed: is the job complete? Returns true to exit.
    private func idle(_ state: inout LoopState) async throws -> Bool {
        guard state.lastClaimWasEmpty else { return false }
        let progress = try await store.progress(partitions: partitions)
        if progress.isComplete && !settings.waitForMore {
            logger.info("job complete")
            return true
        }
        // Back off while the queues are empty (the producer is listing, or another
        // consumer's expired claims are not yet back).
        state.idlePause = min(max(state.idlePause * 2, 0.05), 1.0)
        state.nextClaim = Date().addingTimeInterval(state.idlePause)
        try await Task.sleep(nanoseconds: UInt64(state.idlePause * 1_000_000_000))
        return false
    }

    private func reconcileIfReconnected(_ state: inout LoopState) async throws {
        let reconnects = try await store.reconnectCount()
        if reconnects != state.reconnects {
            logger.info("Redis connection re-established; reconciling claims")
            try await reconcile(&state)
        }
    }

    /// Hands back every claim Redis holds for us that this process does not know about
    /// (a claim whose reply was lost, or an acknowledgement Redis lost in a crash).
    private func reconcile(_ state: inout LoopState) async throws {
        state.reconnects = try await store.reconnectCount()
        let known = state.knownKeys
        let orphans = try await store.claims(of: consumer.id).filter { !known.contains($0) }
        if !orphans.isEmpty {
            let moved = try await store.release(consumer: consumer.id, orphans)
            logger.info("handed back \(moved) claims this process had lost track of")
        }
    }
}

/// The consumer loop's bookkeeping: every claimed key is in exactly one of `pending`,
/// `active`, `acks` or `rejected` until Redis has recorded it.
private struct LoopState {
    var pending = Deque<ClaimedKey>()
    var active: [ClaimedKey: Int] = [:]
    var running = 0
    var acks: [(ClaimedKey, CopyOutcome)] = []
    var rejected: [ClaimedKey] = []
    var consecutiveRejections = 0
    var stoppedBy: BlobferryError?
    var lastFlush = Date()
    var lastClaimWasEmpty = false
    var nextClaim = Date.distantPast
    var idlePause = 0.0
    var nextPartition: Int
    var reconnects = 0

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
        keys.formUnion(rejected)
        return keys
    }
}
