import BlobferryHTTP
import BlobferryTestSupport
import Foundation
import Testing

/// Collects what a `bodyHandler` receives (called on the engine thread, read by the test).
final class ChunkSink: @unchecked Sendable {
    private let lock = NSLock()
    private var bytes: [UInt8] = []
    private var calls = 0

    var handler: @Sendable (UnsafeRawBufferPointer) -> Void {
        { chunk in
            self.lock.withLock {
                self.bytes.append(contentsOf: chunk)
                self.calls += 1
            }
        }
    }

    var received: (bytes: [UInt8], calls: Int) { lock.withLock { (bytes, calls) } }
}

/// `HTTPRequest.bodyHandler`: 2xx bodies stream to the handler, everything else is
/// buffered as before.
extension HTTPEngineTests {
    @Test func bodyHandlerReceivesTheWholeBodyInChunks() async throws {
        let server = try EchoServerProcess()
        let engine = try HTTPEngine()
        for size in [0, 1, 250, 65_536, 3 << 20] {
            let sink = ChunkSink()
            let response = try await engine.execute(
                HTTPRequest(method: "GET", url: server.url("/bytes/\(size)"), bodyHandler: sink.handler))
            #expect(response.status == 200)
            #expect(response.body.isEmpty, "a streamed body is not also buffered")
            #expect(response.header("content-length") == String(size))
            let received = sink.received
            #expect(received.bytes == patternBytes(size), "size \(size)")
            if size == 3 << 20 { #expect(received.calls > 1, "curl delivers a large body in several chunks") }
        }
    }

    /// An error body is an error document the caller reads (`<Code>`): buffered, never
    /// handed to the handler.
    @Test func errorStatusIsBufferedNotStreamed() async throws {
        let server = try EchoServerProcess()
        let engine = try HTTPEngine()
        for status in [404, 503] {
            let sink = ChunkSink()
            let response = try await engine.execute(
                HTTPRequest(method: "GET", url: server.url("/status/\(status)"), bodyHandler: sink.handler))
            #expect(response.status == status)
            #expect(response.body == Array("status \(status)\n".utf8))
            #expect(sink.received.calls == 0)
        }
        // An interim 103 before the 200 does not confuse the decision.
        let sink = ChunkSink()
        let interim = try await engine.execute(
            HTTPRequest(method: "GET", url: server.url("/interim"), bodyHandler: sink.handler))
        #expect(interim.status == 200)
        #expect(interim.header("X-Final") == "yes")
        #expect(interim.body.isEmpty)
        #expect(sink.received.bytes == Array("final".utf8))
    }

    @Test func manyConcurrentStreamedTransfers() async throws {
        let server = try EchoServerProcess()
        let engine = try HTTPEngine()
        let sizes = [0, 1, 4096, 16_385, 100_003, 1 << 20]
        let failures = try await withThrowingTaskGroup(of: String?.self) { group in
            for index in 0..<256 {
                group.addTask {
                    let size = sizes[index % sizes.count]
                    let sink = ChunkSink()
                    // Every fourth request is an error status, which must stay buffered.
                    if index % 4 == 3 {
                        let response = try await engine.execute(
                            HTTPRequest(method: "GET", url: server.url("/status/500"), bodyHandler: sink.handler))
                        guard response.status == 500, response.body == Array("status 500\n".utf8),
                            sink.received.calls == 0
                        else { return "error \(index): not buffered" }
                        return nil
                    }
                    let response = try await engine.execute(
                        HTTPRequest(method: "GET", url: server.url("/bytes/\(size)"), bodyHandler: sink.handler))
                    guard response.status == 200, response.body.isEmpty else { return "GET \(index): buffered" }
                    guard sink.received.bytes == patternBytes(size) else {
                        return "GET \(index): \(sink.received.bytes.count) bytes, expected \(size)"
                    }
                    return nil
                }
            }
            var failures: [String] = []
            for try await failure in group { if let failure { failures.append(failure) } }
            return failures
        }
        #expect(failures.isEmpty, "\(failures.prefix(5))")
        #expect(engine.inFlight == 0)
    }
}
