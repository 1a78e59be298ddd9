import BlobferryCrypto
import Synchronization

/// The MD5 and size of a body hashed chunk by chunk as it arrives, so comparing a 5 TB
/// object costs a hash state, not its bytes.
public struct StreamedDigest: Sendable, Equatable {
    public var md5: [UInt8]
    public var size: Int

    /// Collects chunks from the HTTP engine's body handler. The engine calls it from its
    /// one transfer thread, in order; the lock only makes that hand-over visible to the
    /// task that reads the result after the request returned.
    final class Accumulator: Sendable {
        private struct State: @unchecked Sendable {
            // MD5Hasher is a class holding OpenSSL state; it is only touched under the lock.
            var hasher = MD5Hasher()
            var size = 0
        }
        private let state = Mutex(State())

        func consume(_ chunk: UnsafeRawBufferPointer) {
            state.withLock {
                $0.hasher.update(chunk)
                $0.size += chunk.count
            }
        }

        func result() -> StreamedDigest {
            state.withLock { StreamedDigest(md5: $0.hasher.finalize(), size: $0.size) }
        }
    }
}
