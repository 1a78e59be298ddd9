import DequeModule
import Synchronization

/// A process-wide bound on blob bytes held in memory. A copy asks for the bytes it is
/// about to hold before it reads them, and waits (first come, first served) while the
/// budget is spent, so memory does not grow with blob size or concurrency: a VM with a
/// few GiB copies 80 MiB blobs at concurrency 64 without running out of memory.
///
/// Callers never wait while holding bytes (a copy releases what it holds before asking
/// for more), so copies cannot deadlock each other. A request larger than the whole
/// budget is clamped to it (that copy then runs alone).
final class ByteBudget: Sendable {
    private struct State {
        var available: Int
        var waiters = Deque<(bytes: Int, continuation: CheckedContinuation<Void, Never>)>()
    }

    let capacity: Int
    private let state: Mutex<State>

    init(capacity: Int) {
        self.capacity = max(1, capacity)
        state = Mutex(State(available: max(1, capacity)))
    }

    /// Waits until `bytes` (clamped to the capacity) are free and takes them; returns what
    /// was taken, which the caller gives back with `release`.
    func acquire(_ bytes: Int) async -> Int {
        let wanted = min(max(0, bytes), capacity)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state -> Bool in
                if state.waiters.isEmpty, state.available >= wanted {
                    state.available -= wanted
                    return true
                }
                state.waiters.append((wanted, continuation))
                return false
            }
            if resumeNow { continuation.resume() }
        }
        return wanted
    }

    func release(_ bytes: Int) {
        let ready = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.available += bytes
            var ready: [CheckedContinuation<Void, Never>] = []
            while let first = state.waiters.first, state.available >= first.bytes {
                state.available -= first.bytes
                ready.append(first.continuation)
                state.waiters.removeFirst()
            }
            return ready
        }
        for continuation in ready { continuation.resume() }
    }

    /// Bytes not held by anyone (for tests and logs).
    var available: Int { state.withLock { $0.available } }

    /// Runs `body` holding `bytes`, giving them back however it ends.
    func withBytes<T>(_ bytes: Int, _ body: () async throws -> T) async throws -> T {
        let held = await acquire(bytes)
        defer { release(held) }
        return try await body()
    }
}
