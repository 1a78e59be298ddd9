import Blobferry
import FlyingFox
import Foundation

/// Serves `GET /metrics` (Prometheus text format) for a producer, a consumer or the
/// exporter, on FlyingFox's HTTP/1.1 server.
///
/// Why FlyingFox: it is a small, maintained server on POSIX sockets and Swift concurrency
/// with no dependencies of its own, so it adds about 30 s to a clean debug build on 2 cores,
/// where swift-nio's HTTP server or Hummingbird would add minutes (README, "Metrics").
final class MetricsServer: Sendable {
    private let server: HTTPServer
    private let task: Task<Void, any Error>

    private init(server: HTTPServer, task: Task<Void, any Error>) {
        self.server = server
        self.task = task
    }

    /// Starts listening on `address` and returns once it listens; `body` makes each
    /// scrape's text (an error becomes a 503 naming it).
    static func start(_ address: ListenAddress, body: @escaping @Sendable () async throws -> String) async throws
        -> MetricsServer
    {
        let socketAddress: sockaddr_in
        do {
            socketAddress = try .inet(ip4: address.host, port: address.port)
        } catch {
            throw BlobferryError(.configuration, "cannot listen on \(address.host):\(address.port): \(error)")
        }
        let server = HTTPServer(address: socketAddress, logger: .disabled)
        await server.appendRoute("GET /metrics") { _ in
            do {
                let text = try await body()
                return HTTPResponse(
                    statusCode: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                    body: Data(text.utf8))
            } catch let error as BlobferryError {
                return HTTPResponse(statusCode: .serviceUnavailable, body: Data((error.message + "\n").utf8))
            } catch {
                return HTTPResponse(statusCode: .serviceUnavailable, body: Data("\(error)\n".utf8))
            }
        }
        let task = Task { try await server.run() }
        do {
            try await server.waitUntilListening(timeout: 5)
        } catch {
            task.cancel()
            throw BlobferryError(
                .configuration, "cannot listen on \(address.host):\(address.port) (in use, or not an address here)")
        }
        return MetricsServer(server: server, task: task)
    }

    /// Starts the process metrics endpoint when `metrics_address` is set.
    static func startProcessMetrics(_ settings: Settings) async throws -> MetricsServer? {
        guard !settings.metricsAddress.isEmpty, let address = ListenAddress(parsing: settings.metricsAddress) else {
            return nil
        }
        return try await start(address) { Metrics.process.render() }
    }

    /// Stops listening.
    func stop() async {
        await server.stop()
        task.cancel()
    }
}
