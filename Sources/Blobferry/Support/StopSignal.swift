import Dispatch
import Foundation
import Synchronization

/// Turns SIGTERM and SIGINT into a flag the producer and consumer poll, so a stop means
/// "finish or hand back what is in flight, then exit 0" rather than dying mid-copy.
public final class StopSignal: Sendable {
    private let stopping = Atomic<Bool>(false)
    private let sources = Mutex<[DispatchSourceSignal]>([])

    public init() {}

    /// Routes SIGTERM and SIGINT to this flag (instead of killing the process).
    public func installHandlers() {
        for number in [SIGTERM, SIGINT] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [self] in stop() }
            source.resume()
            sources.withLock { $0.append(source) }
        }
    }

    public func stop() { stopping.store(true, ordering: .relaxed) }
    public var isStopping: Bool { stopping.load(ordering: .relaxed) }
}

/// Running totals shared by concurrent listers or copies.
public final class ProgressCounters: Sendable {
    public struct Snapshot: Sendable {
        public var listed = 0
        public var enqueued = 0
        public var copied = 0
        public var bytes = 0
        public var failed = 0
        public var vanished = 0
        public var retried = 0
    }

    private let state = Mutex(Snapshot())

    public init() {}

    public func add(listed: Int = 0, enqueued: Int = 0) {
        state.withLock {
            $0.listed += listed
            $0.enqueued += enqueued
        }
    }

    public func record(_ outcome: CopyOutcome) {
        state.withLock {
            switch outcome {
            case .copied(let bytes):
                $0.copied += 1
                $0.bytes += bytes
            case .vanished: $0.vanished += 1
            case .failed: $0.failed += 1
            }
        }
    }

    public func addRetry() { state.withLock { $0.retried += 1 } }

    public func snapshot() -> Snapshot { state.withLock { $0 } }
}
