import Dispatch
import Foundation
import Synchronization

/// Turns SIGTERM and SIGINT into a flag the producer and consumer poll, so a stop means
/// "finish or hand back what is in flight, then exit 0" rather than dying mid-copy.
public final class StopSignal: Sendable {
    private let stopping = Atomic<Bool>(false)
    private let sources = Mutex<[RetainedSource]>([])

    /// A signal source kept alive for the life of the process. `@unchecked`: it is never
    /// touched again after `resume()`, only retained.
    private struct RetainedSource: @unchecked Sendable {
        let source: DispatchSourceSignal
    }

    public init() {}

    /// Routes SIGTERM and SIGINT to this flag (instead of killing the process).
    public func installHandlers() {
        for number in [SIGTERM, SIGINT] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [self] in stop() }
            source.resume()
            let retained = RetainedSource(source: source)
            sources.withLock { $0.append(retained) }
        }
    }

    public func stop() { stopping.store(true, ordering: .relaxed) }
    public var isStopping: Bool { stopping.load(ordering: .relaxed) }
}
