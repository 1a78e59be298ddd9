import Synchronization

/// Running totals shared by concurrent listers or copies; copies also count in
/// `Metrics.process` (the `/metrics` counters).
public final class ProgressCounters: Sendable {
    public struct Snapshot: Sendable {
        public var listed = 0
        public var enqueued = 0
        /// Listed names the job's `ListingFilter` left out.
        public var filteredOut = 0
        public var copied = 0
        public var bytes = 0
        public var failed = 0
        public var vanished = 0
        public var directoryMarkers = 0
        public var alreadyInBucket = 0
    }

    private let state = Mutex(Snapshot())

    public init() {}

    public func add(listed: Int = 0, enqueued: Int = 0, filteredOut: Int = 0) {
        state.withLock {
            $0.listed += listed
            $0.enqueued += enqueued
            $0.filteredOut += filteredOut
        }
    }

    public func record(_ outcome: CopyOutcome) {
        switch outcome {
        case .copied(let bytes):
            Metrics.process.add("blobferry_objects_copied_total")
            Metrics.process.add("blobferry_bytes_copied_total", [], Double(bytes))
        case .vanished: Metrics.process.add("blobferry_objects_vanished_total")
        case .failed: Metrics.process.add("blobferry_objects_failed_total")
        case .directoryMarker, .alreadyInBucket: break
        }
        state.withLock {
            switch outcome {
            case .copied(let bytes):
                $0.copied += 1
                $0.bytes += bytes
            case .vanished: $0.vanished += 1
            case .directoryMarker: $0.directoryMarkers += 1
            case .alreadyInBucket: $0.alreadyInBucket += 1
            case .failed: $0.failed += 1
            }
        }
    }

    public func snapshot() -> Snapshot { state.withLock { $0 } }
}
