import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The project's Azure Blob Storage emulator (`scripts/azure_emulator.py`) on a free
/// port (of loopback, or of the address a test gives), owned by one test: tests of retries, paging and scale need an Azure
/// with switches (latency, injected 503 ServerBusy, a small page cap, a synthetic
/// container of millions of blobs) that no other test shares. The shared emulator of
/// `scripts/services.sh` has none of them turned on. Stopped when released.
public final class AzureEmulatorProcess: @unchecked Sendable {
    /// Azurite's well-known development account and key (public, not secrets).
    public static let developmentAccount = "devstoreaccount1"
    public static let developmentKey =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

    public let port: Int
    /// The IPv4 address it listens on (127.0.0.1 unless the test chose another).
    public let host: String
    public let account: String
    public let key: String
    /// Where the emulator's own output goes (useful when a test fails).
    public let logFile: String
    private let process: LocalProcess

    /// Path-style blob endpoint, `http://<host>:<port>/<account>` (no trailing slash).
    public var endpoint: String { "http://\(host):\(port)/\(account)" }

    /// What Azure tools take in AZURE_STORAGE_CONNECTION_STRING.
    public var connectionString: String {
        "DefaultEndpointsProtocol=http;AccountName=\(account);AccountKey=\(key);BlobEndpoint=\(endpoint);"
    }

    /// Starts an emulator and waits until it listens.
    ///
    /// - Parameters:
    ///   - latencyMs: added to every request.
    ///   - failRate: share of requests answered `503 ServerBusy` (0...1).
    ///   - failMethods: HTTP methods the failures apply to (empty: all).
    ///   - maxPage: List Blobs page cap below Azure's 5000 (nil: 5000).
    ///   - synthetic: blobs in the read-only synthetic container (0: none).
    ///   - syntheticContainer: its name.
    ///   - retryAfter: `Retry-After` seconds sent with injected 503s.
    ///   - containers: empty containers to create at start.
    ///   - startFrom: List Blobs' `startFrom`: `support`, `reject` (a service older than
    ///     2026-02-06) or `ignore` (old Azurite); the admin API can change it later.
    ///   - syntheticPrefix: put every synthetic name under this prefix (a skewed container).
    ///   - host: the IPv4 address to listen on (e.g. a bridge that network namespaces
    ///     reach); the admin API answers this host only (loopback or that address).
    public init(
        latencyMs: Int = 0, failRate: Double = 0, failMethods: [String] = [], maxPage: Int? = nil,
        synthetic: Int = 0, syntheticContainer: String = "synthetic", retryAfter: Int? = nil,
        containers: [String] = [], startFrom: String = "support", syntheticPrefix: String = "",
        account: String = developmentAccount, key: String = developmentKey,
        host: String = "127.0.0.1", python: String = "python3", timeout: TimeInterval = 20
    ) throws {
        let directory = NSTemporaryDirectory() as NSString
        let tag = UUID().uuidString.prefix(8)
        let portFile = directory.appendingPathComponent("blobferry-azure-\(tag).port")
        let logFile = directory.appendingPathComponent("blobferry-azure-\(tag).log")
        var arguments = [
            "-S", TestEnvironment.path("scripts/azure_emulator.py"), "--host", host, "--port", "0",
            "--port-file", portFile, "--account", account, "--key", key,
            "--latency-ms", String(latencyMs), "--fail-rate", String(failRate),
            "--fail-methods", failMethods.joined(separator: ","),
            "--synthetic", String(synthetic), "--synthetic-container", syntheticContainer,
            "--synthetic-prefix", syntheticPrefix, "--start-from", startFrom,
        ]
        if let maxPage { arguments += ["--max-page", String(maxPage)] }
        if let retryAfter { arguments += ["--retry-after", String(retryAfter)] }
        for container in containers { arguments += ["--container", container] }
        let process = try LocalProcess(python, arguments, logFile: logFile)
        guard let port = Self.waitForPortFile(portFile, of: process, timeout: timeout) else {
            process.stop(signal: SIGKILL)
            throw LocalProcess.TimedOut(
                what: "azure_emulator.py did not start within \(Int(timeout)) s (see \(logFile))")
        }
        try? FileManager.default.removeItem(atPath: portFile)
        self.port = port
        self.host = host
        self.account = account
        self.key = key
        self.logFile = logFile
        self.process = process
    }

    /// The port the emulator wrote once listening, or nil if it exited or timed out.
    private static func waitForPortFile(_ path: String, of process: LocalProcess, timeout: TimeInterval) -> Int? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline, process.isRunning {
            if let text = try? String(contentsOfFile: path, encoding: .utf8),
                let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
            {
                return port
            }
            usleep(20_000)
        }
        return nil
    }

    /// The emulator's process id.
    public var pid: Int32 { process.pid }

    /// Changes switches while the emulator runs (`POST /__admin/config`); nil leaves a
    /// switch as it is. `maxPage: 0` restores Azure's 5000.
    public func configure(
        latencyMs: Int? = nil, failRate: Double? = nil, maxPage: Int? = nil, failMethods: [String]? = nil,
        maxRequestsPerSecond: Double? = nil
    ) throws {
        var changes: [String: Any] = [:]
        if let maxRequestsPerSecond { changes["max_rps"] = maxRequestsPerSecond }
        if let latencyMs { changes["latency_ms"] = latencyMs }
        if let failRate { changes["fail_rate"] = failRate }
        if let maxPage { changes["max_page"] = maxPage }
        if let failMethods { changes["fail_methods"] = failMethods }
        _ = try admin("POST", "/__admin/config", body: JSONSerialization.data(withJSONObject: changes))
    }

    /// Request counters (`GET /__admin/stats`): requests, by_method, by_operation,
    /// by_status, injected_failures, auth_failures, bytes_received, bytes_sent, by_client
    /// and in_progress_by_client (client address -> requests, all and not yet answered).
    public func stats() throws -> [String: Any] {
        let data = try admin("GET", "/__admin/stats", body: nil)
        return (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
    }

    /// Zeroes the request counters (`POST /__admin/stats/reset`).
    public func resetStats() throws {
        _ = try admin("POST", "/__admin/stats/reset", body: Data("{}".utf8))
    }

    /// Stops the emulator (also done when released).
    public func stop() { process.stop() }

    deinit { process.stop() }

    /// One admin request, synchronously; throws unless the answer is 200.
    private func admin(_ method: String, _ path: String, body: Data?) throws -> Data {
        guard let url = URL(string: "http://\(host):\(port)\(path)") else {
            throw AdminError(description: "bad admin path \(path)")
        }
        var request = URLRequest(url: url, timeoutInterval: 10)
        request.httpMethod = method
        request.httpBody = body
        if body != nil { request.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        let outcome = AdminOutcome()
        let done = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: request) { data, response, error in
            outcome.data = data ?? Data()
            outcome.status = (response as? HTTPURLResponse)?.statusCode ?? 0
            outcome.error = error
            done.signal()
        }.resume()
        done.wait()
        if let error = outcome.error { throw error }
        guard outcome.status == 200 else {
            let text = String(decoding: outcome.data, as: UTF8.self)
            throw AdminError(description: "azure emulator \(method) \(path): HTTP \(outcome.status) \(text)")
        }
        return outcome.data
    }

    /// What the admin endpoint answered (filled on URLSession's queue, read after the wait).
    private final class AdminOutcome: @unchecked Sendable {
        var data = Data()
        var status = 0
        var error: Error?
    }

    /// The admin endpoint refused a request.
    public struct AdminError: Error, CustomStringConvertible {
        public let description: String
    }
}
