import BlobferryHTTP
import Foundation

/// Sends one service's requests: adds Content-Length, lets the signer authorize the
/// request, sends it on the shared HTTP engine and turns every failure into a `RemoteError`.
///
/// Why one executor: the Azure and S3 clients differ in their paths and headers, not in how
/// a request goes out or how a failure is classified, and each new credential source should
/// be a new `RequestSigner` rather than a change to both clients. Errors name the operation
/// and the host, never the URL's query (SAS signatures live there) nor a header value.
struct SignedRequestExecutor: Sendable {
    let service: RemoteError.Service
    /// What the paths are appended to: "scheme://authority" plus nothing else.
    let origin: String
    /// The Host header value the signer signs.
    let host: String
    /// How transport errors name the endpoint.
    let displayHost: String
    let signer: any RequestSigner
    let http: HTTPEngine
    let timeout: TimeInterval
    /// This process's pace towards the service (see `AdaptivePace`).
    let pace = AdaptivePace()

    /// Sends `method` on `path` (already percent-encoded) with the raw `query` pairs;
    /// returns a 2xx response, throws `RemoteError` for anything else. `bodyHandler`
    /// receives a 2xx body as it arrives (see `HTTPRequest.bodyHandler`).
    func send(
        _ method: String, path: String, query: [(String, String)] = [], headers: [HTTPHeader] = [],
        body: [UInt8] = [], operation: String, bodyHandler: (@Sendable (UnsafeRawBufferPointer) -> Void)? = nil
    ) async throws -> HTTPResponse {
        var headers = headers
        if method == "PUT" || method == "POST" || !body.isEmpty {
            headers.append(HTTPHeader("Content-Length", String(body.count)))
        }
        var signable = SignableRequest(method: method, host: host, encodedPath: path, query: query, headers: headers)
        try await pace.admit()
        try await signer.sign(&signable)
        let query = signable.encodedQuery
        let request = HTTPRequest(
            method: method, url: origin + path + (query.isEmpty ? "" : "?" + query), headers: signable.headers,
            body: body, timeout: timeout, bodyHandler: bodyHandler)
        let response: HTTPResponse
        let started = ContinuousClock.now
        do {
            response = try await http.execute(request)
        } catch let error as HTTPError {
            Metrics.process.request(service: service.metricLabel, status: nil, seconds: started.secondsSince)
            throw RemoteError.from(transport: error, service: service, operation: "\(operation) on \(displayHost)")
        }
        Metrics.process.request(service: service.metricLabel, status: response.status, seconds: started.secondsSince)
        guard (200..<300).contains(response.status) else {
            let error = RemoteError.from(response: response, service: service, operation: operation)
            if error.isThrottling {
                pace.refused()
                Metrics.process.set(
                    "blobferry_request_pace_per_second", [("service", service.metricLabel)], pace.currentRate ?? 0)
            }
            throw error
        }
        return response
    }
}

extension RemoteError.Service {
    /// The `service` label of metrics: `azure` or `s3`.
    var metricLabel: String { rawValue.lowercased() }
}

extension ContinuousClock.Instant {
    /// Seconds from this instant to now.
    var secondsSince: Double {
        let elapsed = ContinuousClock.now - self
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
}
