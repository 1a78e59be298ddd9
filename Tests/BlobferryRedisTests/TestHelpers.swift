import BlobferryRedis
import BlobferryTestSupport
import Foundation

/// Moves a value to another thread in a test where the test itself guarantees that only
/// one thread uses it at a time.
final class Handoff<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// Runs `body` on a background thread; `wait()` returns its result.
final class Background<Result>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var result: Swift.Result<Result, Error>?

    init(_ body: @escaping () throws -> Result) {
        let unchecked = Handoff(body)
        Thread.detachNewThread { [self] in
            result = Swift.Result { try unchecked.value() }
            done.signal()
        }
    }

    /// Waits for the result; may be called more than once.
    func wait() -> Swift.Result<Result, Error> {
        done.wait()
        done.signal()
        return result ?? .failure(RedisError(.protocolError, "no result"))
    }
}

/// The code of the RedisError `body` throws, or nil when it does not throw one.
func redisErrorCode<T>(_ body: () throws -> T) -> RedisError.Code? {
    do {
        _ = try body()
        return nil
    } catch let error as RedisError {
        return error.code
    } catch {
        return nil
    }
}

func configuration(_ server: RedisServerProcess, _ adjust: (inout RedisConfiguration) -> Void = { _ in }) throws
    -> RedisConfiguration
{
    var configuration = try RedisConfiguration(url: server.url)
    adjust(&configuration)
    return configuration
}

func monotonicNow() -> TimeInterval { TimeInterval(DispatchTime.now().uptimeNanoseconds) / 1e9 }
