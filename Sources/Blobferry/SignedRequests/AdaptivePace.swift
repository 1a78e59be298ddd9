import DequeModule
import Foundation
import Synchronization

/// How fast one process sends requests to one service, learned from the service's
/// throttling answers.
///
/// Why a pace as well as adaptive concurrency: a throttling service counts requests per
/// second, and a few dozen copies in flight at 20 ms each send thousands a second, so
/// halving the copies in flight barely slows the requests down. Until the first throttling
/// answer nothing is paced. On one, the pace drops to 90% of what the service accepted from
/// this process over the last second (requests sent minus those refused), at most once a
/// second, since the refusals of requests already on their way are one event; then it grows
/// by 3% of that figure every second until the next refusal. Consumers pacing themselves this
/// way settle just under an account's limit with about 1% of requests refused (README,
/// "Throttling").
final class AdaptivePace: Sendable {
    private struct State {
        var paced = false
        /// Requests per second right after the last decrease, and the growth per second since.
        var base = 0.0
        var slope = 0.0
        var lastDecrease = -Double.infinity
        /// When the next request may go (GCRA: one slot of 1/rate seconds per request).
        var nextSlot = 0.0
        /// Send times and refusal times of the last second.
        var sent = Deque<Double>()
        var refused = Deque<Double>()

        func rate(at now: Double) -> Double { base + slope * (now - lastDecrease) }

        mutating func forget(before cutoff: Double) {
            while let first = sent.first, first < cutoff { sent.removeFirst() }
            while let first = refused.first, first < cutoff { refused.removeFirst() }
        }
    }

    static let decrease = 0.9
    static let growthPerSecond = 0.03
    static let minimumRate = 1.0
    private let state = Mutex(State())

    /// Requests per second allowed now; nil while nothing has been refused.
    var currentRate: Double? {
        state.withLock { $0.paced ? $0.rate(at: Self.now()) : nil }
    }

    /// Waits for this request's slot.
    func admit() async throws {
        let wait = state.withLock { state -> Double in
            let now = Self.now()
            state.forget(before: now - 1)
            guard state.paced else {
                state.sent.append(now)
                return 0
            }
            let slot = max(now, state.nextSlot)
            state.nextSlot = slot + 1 / max(Self.minimumRate, state.rate(at: now))
            state.sent.append(slot)
            return slot - now
        }
        if wait > 0.000_5 { try await Task.sleep(nanoseconds: UInt64(wait * 1_000_000_000)) }
    }

    /// A throttling answer arrived.
    func refused() {
        state.withLock { state in
            let now = Self.now()
            state.forget(before: now - 1)
            state.refused.append(now)
            guard now - state.lastDecrease >= 1 else { return }
            let accepted = Double(max(0, state.sent.count - state.refused.count))
            let current = state.paced ? state.rate(at: now) : Double.infinity
            state.base = max(Self.minimumRate, Self.decrease * min(current, accepted))
            state.slope = max(Self.minimumRate, Self.growthPerSecond * state.base)
            state.lastDecrease = now
            state.paced = true
        }
    }

    private static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
}
