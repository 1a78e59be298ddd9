import Foundation
import Logging
import Synchronization

/// Keeps one consumer run's lease alive while it copies, returns expired consumers'
/// claims to the queues, and tells the copy loop when its own lease had lapsed (a frozen
/// VM, a long pause): its claims may then be in other hands.
///
/// After the connection was re-established it waits one lease period before reaping:
/// leases are Redis-clock times, and after an outage longer than a lease every live
/// consumer looks expired until it has had the chance to heartbeat again.
final class LeaseKeeper: Sendable {
    private let queue: any WorkQueue
    private let leaseSeconds: Double
    private let logger: Logger
    private let lapses = Atomic<Int>(0)

    init(queue: any WorkQueue, leaseSeconds: Double, logger: Logger) {
        self.queue = queue
        self.leaseSeconds = leaseSeconds
        self.logger = logger
    }

    /// How many heartbeats found the lease lapsed so far.
    var lapseCount: Int { lapses.load(ordering: .relaxed) }

    /// Heartbeats every third of a lease until cancelled.
    func run() async {
        let interval = max(0.5, leaseSeconds / 3)
        var generation = (try? await queue.connectionGeneration()) ?? 0
        var reapAfter = Date.distantPast
        while !Task.isCancelled {
            do {
                let current = try await queue.connectionGeneration()
                if current != generation {
                    generation = current
                    reapAfter = Date().addingTimeInterval(leaseSeconds)
                    logger.info("Redis connection re-established; not reaping other consumers for \(leaseSeconds) s")
                }
                let result = try await queue.heartbeat(reap: Date() >= reapAfter)
                if result.lostLease {
                    lapses.add(1, ordering: .relaxed)
                    logger.warning("this consumer's lease had lapsed; dropping claims now in other hands")
                }
                if result.expired > 0 {
                    logger.warning(
                        "\(result.expired) consumer(s) stopped heartbeating: \(result.requeued) keys back in their queues, \(result.failed) out of attempts"
                    )
                }
            } catch {
                logger.warning("heartbeat failed: \(error)")
            }
            try? await Task.sleep(nanoseconds: UInt64(interval * 1_000_000_000))
        }
    }
}
