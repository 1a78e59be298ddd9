import Foundation
import Synchronization

/// How many copies a consumer keeps in flight, adapted to the services' answers:
/// additive increase (one more copy per window of successes) up to the configured
/// concurrency, multiplicative decrease (halve) on a throttling answer, at most once per
/// `cooldown` so one burst of 503s does not collapse it to one. Fifty consumers each
/// backing off this way settle near the service's limit instead of oscillating.
final class AdaptiveConcurrency: Sendable {
    private struct State {
        var limit: Double
        var lastDecrease = Date.distantPast
    }

    let maximum: Int
    private let cooldown: TimeInterval
    private let state: Mutex<State>

    init(maximum: Int, cooldown: TimeInterval = 1) {
        self.maximum = max(1, maximum)
        self.cooldown = cooldown
        state = Mutex(State(limit: Double(max(1, maximum))))
    }

    /// Copies allowed in flight now.
    var limit: Int { state.withLock { Int($0.limit) } }

    func throttled() {
        let now = Date()
        state.withLock {
            guard now.timeIntervalSince($0.lastDecrease) >= cooldown else { return }
            $0.limit = max(1, $0.limit / 2)
            $0.lastDecrease = now
        }
    }

    func succeeded() {
        state.withLock { $0.limit = min(Double(maximum), $0.limit + 1 / $0.limit) }
    }
}
