import BlobferryHTTP
import BlobferryTestSupport
import Foundation
import Testing

/// Bytes `i` = (i + seed) % 251, built by repeating one period (fast even for 32 MiB).
func patternBytes(_ count: Int, seed: Int = 0) -> [UInt8] {
    let period = (0..<251).map { UInt8(($0 + seed) % 251) }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(count)
    while bytes.count < count { bytes.append(contentsOf: period.prefix(count - bytes.count)) }
    return bytes
}

/// What the echo server saw of one request.
struct Echo: Decodable {
    var method: String
    var path: String
    var headers: [[String]]
    var body_length: Int
    var chunked: Bool

    func values(_ name: String) -> [String] {
        headers.filter { $0.first?.lowercased() == name.lowercased() }.map { $0.count > 1 ? $0[1] : "" }
    }
    var names: [String] { headers.compactMap { $0.first?.lowercased() } }
}

func decodeEcho(_ response: HTTPResponse) throws -> Echo {
    try JSONDecoder().decode(Echo.self, from: Data(response.body))
}

/// Runs `body` and returns the HTTPError it threw (nil, recorded as a failure, otherwise).
func httpError(_ body: () async throws -> HTTPResponse) async -> HTTPError? {
    do {
        let response = try await body()
        Issue.record("expected an HTTPError, got status \(response.status)")
        return nil
    } catch let error as HTTPError {
        return error
    } catch {
        Issue.record("expected an HTTPError, got \(error)")
        return nil
    }
}

@Suite(.serialized)
struct HTTPEngineTests {
    @Test func manyConcurrentTransfersOnOneEngine() async throws {
        let server = try EchoServerProcess()
        let engine = try HTTPEngine()
        let sizes = [0, 1, 250, 251, 4096, 16_385, 65_536, 100_003, 300_000, 1 << 20]
        let count = 256
        let failures = try await withThrowingTaskGroup(of: String?.self) { group in
            for index in 0..<count {
                group.addTask {
                    let size = sizes[index % sizes.count]
                    if index % 2 == 0 {
                        let response = try await engine.execute(
                            HTTPRequest(method: "GET", url: server.url("/bytes/\(size)")))
                        guard response.status == 200 else { return "GET \(index): status \(response.status)" }
                        guard response.body == patternBytes(size) else {
                            return "GET \(index): \(response.body.count) bytes, expected \(size)"
                        }
                    } else {
                        let body = patternBytes(size, seed: index)
                        let response = try await engine.execute(
                            HTTPRequest(method: "PUT", url: server.url("/raw/\(index)"), body: body))
                        guard response.status == 200 else { return "PUT \(index): status \(response.status)" }
                        guard response.header("X-Request-Method") == "PUT" else { return "PUT \(index): method" }
                        guard response.body == body else {
                            return "PUT \(index): echoed \(response.body.count) bytes, sent \(size)"
                        }
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
        let statistics = engine.statistics
        #expect(statistics.completed == count)
        #expect(statistics.failed == 0)
        #expect(statistics.connectionsOpened <= 128)
    }

    @Test func connectionsAreReused() async throws {
        let server = try EchoServerProcess()
        var configuration = HTTPEngineConfiguration()
        configuration.maxConnectionsPerHost = 8
        let engine = try HTTPEngine(configuration: configuration)
        let requests = 400
        try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<requests {
                group.addTask {
                    try await engine.execute(HTTPRequest(method: "GET", url: server.url("/bytes/\(index % 50)"))).status
                }
            }
            for try await status in group { #expect(status == 200) }
        }
        // Sequential requests after that ride the idle connections.
        for _ in 0..<20 {
            #expect(try await engine.execute(HTTPRequest(method: "GET", url: server.url("/bytes/10"))).status == 200)
        }
        let stats = try await engine.execute(HTTPRequest(method: "GET", url: server.url("/stats")))
        let serverSide = try #require(try JSONSerialization.jsonObject(with: Data(stats.body)) as? [String: Int])
        let connections = try #require(serverSide["connections"])
        #expect(serverSide["requests"] == requests + 21)
        #expect(connections <= 8, "server accepted \(connections) connections for \(requests + 21) requests")
        #expect(engine.statistics.connectionsOpened == connections)
    }

    @Test func timeoutFailsOnlyThatTransfer() async throws {
        let server = try EchoServerProcess()
        let engine = try HTTPEngine()
        let started = Date()
        async let slow = httpError {
            try await engine.execute(HTTPRequest(method: "GET", url: server.url("/slow/5000"), timeout: 0.5))
        }
        let fast = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<32 {
                group.addTask {
                    try await engine.execute(HTTPRequest(method: "GET", url: server.url("/bytes/\(index)"))).status
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(fast == Array(repeating: 200, count: 32))
        let error = await slow
        #expect(error?.code == .timeout)
        #expect(error?.curlCode == 28)
        #expect(Date().timeIntervalSince(started) < 3)
        // The engine keeps working afterwards.
        #expect(try await engine.execute(HTTPRequest(method: "GET", url: server.url("/bytes/3"))).body == [0, 1, 2])
    }

    @Test func refusedConnectionIsCouldNotConnect() async throws {
        let port = try LoopbackPort.free()
        let engine = try HTTPEngine()
        let error = await httpError {
            try await engine.execute(
                HTTPRequest(method: "GET", url: "http://127.0.0.1:\(port)/c/blob?sv=2021&sig=SECRETSIG", timeout: 5))
        }
        #expect(error?.code == .couldNotConnect)
        #expect(error?.curlCode == 7)
        #expect(error?.message.contains("127.0.0.1") == true)
        #expect(error?.message.contains("SECRETSIG") == false)
        #expect(error?.description.contains("SECRETSIG") == false)
    }

    @Test func exactHeadersOnTheWire() async throws {
        let server = try EchoServerProcess()
        let engine = try HTTPEngine()

        // PUT with a body: the caller's headers + Host + Content-Length (+ Accept), in order.
        let put = try decodeEcho(
            try await engine.execute(
                HTTPRequest(
                    method: "PUT", url: server.url("/echo/put"),
                    headers: [
                        HTTPHeader("x-amz-date", "20240101T000000Z"), HTTPHeader("X-Mixed-Case", "v a l"),
                        HTTPHeader("X-Empty", ""), HTTPHeader("Content-MD5", "abc=="),
                    ],
                    body: patternBytes(5))))
        #expect(put.method == "PUT")
        #expect(put.body_length == 5)
        #expect(put.chunked == false)
        #expect(put.values("Content-Length") == ["5"])
        #expect(put.values("X-Mixed-Case") == ["v a l"])
        #expect(put.values("X-Empty") == [""])
        #expect(put.headers.contains(["x-amz-date", "20240101T000000Z"]))
        #expect(
            Set(put.names) == [
                "host", "accept", "x-amz-date", "x-mixed-case", "x-empty", "content-md5", "content-length",
            ])

        // Empty PUT and POST: "Content-Length: 0", no Content-Type of curl's own.
        for method in ["PUT", "POST"] {
            let echo = try decodeEcho(
                try await engine.execute(HTTPRequest(method: method, url: server.url("/echo/empty"))))
            #expect(echo.method == method)
            #expect(echo.values("Content-Length") == ["0"])
            #expect(Set(echo.names) == ["host", "accept", "content-length"], "\(method): \(echo.headers)")
        }

        // POST with a body and a large PUT (curl would add Expect: 100-continue).
        let post = try decodeEcho(
            try await engine.execute(
                HTTPRequest(method: "POST", url: server.url("/echo/post"), body: Array("a=b".utf8))))
        #expect(Set(post.names) == ["host", "accept", "content-length"])
        let large = try decodeEcho(
            try await engine.execute(
                HTTPRequest(method: "PUT", url: server.url("/echo/large"), body: patternBytes(3 << 20))))
        #expect(large.body_length == 3 << 20)
        #expect(large.values("Content-Length") == ["\(3 << 20)"])
        #expect(large.values("Expect").isEmpty)
        #expect(Set(large.names) == ["host", "accept", "content-length"])

        // A caller's own matching Content-Length, Content-Type and Accept replace curl's.
        let own = try decodeEcho(
            try await engine.execute(
                HTTPRequest(
                    method: "PUT", url: server.url("/echo/own"),
                    headers: [
                        HTTPHeader("Content-Length", "2"), HTTPHeader("Content-Type", "application/xml"),
                        HTTPHeader("Accept", "application/json"),
                    ],
                    body: [1, 2])))
        #expect(own.values("Content-Length") == ["2"])
        #expect(own.values("Content-Type") == ["application/xml"])
        #expect(own.values("Accept") == ["application/json"])

        // GET and DELETE without a body carry no Content-Length.
        for method in ["GET", "DELETE"] {
            let echo = try decodeEcho(try await engine.execute(HTTPRequest(method: method, url: server.url("/echo/x"))))
            #expect(echo.method == method)
            #expect(Set(echo.names) == ["host", "accept"], "\(method): \(echo.headers)")
        }
    }

    @Test func invalidRequestsAreRejected() async throws {
        let engine = try HTTPEngine()
        let bad: [HTTPRequest] = [
            HTTPRequest(method: "GET", url: "ftp://example.com/x"),
            HTTPRequest(method: "GET", url: "http://example.com/a b"),
            HTTPRequest(method: "GE T", url: "http://example.com/x"),
            HTTPRequest(method: "GET", url: "http://example.com/x", headers: [HTTPHeader("X-A", "1\r\nX-B: 2")]),
            HTTPRequest(method: "GET", url: "http://example.com/x", headers: [HTTPHeader("Bad Name", "1")]),
            HTTPRequest(
                method: "PUT", url: "http://example.com/x", headers: [HTTPHeader("Content-Length", "3")], body: [1]),
            HTTPRequest(method: "HEAD", url: "http://example.com/x", body: [1]),
        ]
        for request in bad {
            let error = await httpError { try await engine.execute(request) }
            #expect(error?.code == .invalidRequest, "\(request.method) \(request.url)")
        }
        #expect(engine.inFlight == 0)
    }

    @Test func pathsAreSentAsIs() async throws {
        let server = try EchoServerProcess()
        let engine = try HTTPEngine()
        let paths = [
            "/echo/a%2Fb/c%20d/e%25f",
            "/echo/x/../y/./z",
            "/echo/../../etc/passwd",
            "/echo/%2e%2e/k?prefix=a%2Fb&marker=x%20y&comp=list",
            "/echo/dir//double/slash/",
        ]
        for path in paths {
            let echo = try decodeEcho(try await engine.execute(HTTPRequest(method: "GET", url: server.url(path))))
            #expect(echo.path == path)
        }
    }

    @Test func headAndResponseHeaders() async throws {
        let server = try EchoServerProcess()
        let engine = try HTTPEngine()
        let head = try await engine.execute(HTTPRequest(method: "HEAD", url: server.url("/bytes/1000")))
        #expect(head.status == 200)
        #expect(head.body.isEmpty)
        #expect(head.header("content-length") == "1000")
        #expect(head.header("Content-Type") == "application/octet-stream")

        let missing = try await engine.execute(HTTPRequest(method: "HEAD", url: server.url("/status/404")))
        #expect(missing.status == 404)
        #expect(missing.body.isEmpty)

        let status = try await engine.execute(HTTPRequest(method: "GET", url: server.url("/status/503")))
        #expect(status.status == 503)
        #expect(status.body == Array("status 503\n".utf8))

        let custom = try await engine.execute(
            HTTPRequest(method: "GET", url: server.url("/headers?X-Ms-Meta-A=1&x-ms-meta-a=2&ETag=%22abc%22&X-Blank=")))
        #expect(custom.header("X-MS-META-A") == "1")
        #expect(custom.headers.filter { $0.name.lowercased() == "x-ms-meta-a" }.map(\.value) == ["1", "2"])
        #expect(custom.headers.contains(HTTPHeader("ETag", "\"abc\"")))
        #expect(custom.header("X-Blank") == "")
        #expect(custom.header("nope") == nil)

        // An interim 103 response is dropped; only the final response's headers remain.
        let interim = try await engine.execute(HTTPRequest(method: "GET", url: server.url("/interim")))
        #expect(interim.status == 200)
        #expect(interim.header("X-Final") == "yes")
        #expect(interim.header("Link") == nil)
        #expect(interim.body == Array("final".utf8))
    }

    @Test func largeBodiesRoundTrip() async throws {
        let server = try EchoServerProcess()
        let engine = try HTTPEngine()
        let size = 32 << 20
        let body = patternBytes(size, seed: 17)
        let echoed = try await engine.execute(HTTPRequest(method: "PUT", url: server.url("/raw/large"), body: body))
        #expect(echoed.status == 200)
        #expect(echoed.body.count == size)
        #expect(echoed.body == body)
        let download = try await engine.execute(HTTPRequest(method: "GET", url: server.url("/bytes/\(size)")))
        #expect(download.body.count == size)
        #expect(download.body == patternBytes(size))
    }

    @Test func cancellationAbortsTheTransfer() async throws {
        let server = try EchoServerProcess()
        let engine = try HTTPEngine()
        let started = Date()
        // The server would answer after 60 s; a cancelled transfer must end long before.
        // (The bound is loose because a loaded 2-core machine delays task resumption.)
        let task = Task { try await engine.execute(HTTPRequest(method: "GET", url: server.url("/slow/60000"))) }
        while engine.inFlight == 0 { try await Task.sleep(nanoseconds: 10_000_000) }
        try await Task.sleep(nanoseconds: 200_000_000)
        task.cancel()
        do {
            let response = try await task.value
            Issue.record("expected CancellationError, got \(response.status)")
        } catch {
            #expect(error is CancellationError, "\(error)")
        }
        #expect(Date().timeIntervalSince(started) < 30)
        #expect(engine.inFlight == 0)

        // A task cancelled before it starts never reaches the wire.
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await engine.execute(HTTPRequest(method: "GET", url: server.url("/bytes/1")))
        }
        await #expect(throws: CancellationError.self) { try await early.value }

        // The engine is fine afterwards.
        #expect(try await engine.execute(HTTPRequest(method: "GET", url: server.url("/bytes/2"))).body == [0, 1])
        #expect(engine.inFlight == 0)
    }

    @Test func shutdownFailsTransfersInFlight() async throws {
        let server = try EchoServerProcess()
        let engine = try HTTPEngine()
        let started = Date()
        let tasks = (0..<8).map { _ in
            Task { try await engine.execute(HTTPRequest(method: "GET", url: server.url("/slow/10000"))) }
        }
        while engine.inFlight < 8 { try await Task.sleep(nanoseconds: 10_000_000) }
        try await Task.sleep(nanoseconds: 200_000_000)
        engine.shutdown()
        for task in tasks {
            let error = await httpError { try await task.value }
            #expect(error?.code == .engineStopped)
        }
        #expect(Date().timeIntervalSince(started) < 30)
        #expect(engine.inFlight == 0)
        let after = await httpError {
            try await engine.execute(HTTPRequest(method: "GET", url: server.url("/bytes/1")))
        }
        #expect(after?.code == .engineStopped)
        engine.shutdown()  // idempotent
    }

    @Test func enginesCanBeCreatedAndDropped() async throws {
        let server = try EchoServerProcess()
        for _ in 0..<20 {
            let engine = try HTTPEngine()
            #expect(try await engine.execute(HTTPRequest(method: "GET", url: server.url("/bytes/4"))).status == 200)
        }
        // Dropped without ever running a transfer.
        for _ in 0..<20 { _ = try HTTPEngine() }
    }
}

@Suite(.serialized)
struct HTTPEngineLimitTests {
    @Test func transfersBeyondTheHostLimitWaitForAConnection() async throws {
        let server = try EchoServerProcess()
        var configuration = HTTPEngineConfiguration()
        configuration.maxConnectionsPerHost = 2
        let engine = try HTTPEngine(configuration: configuration)
        let started = Date()
        try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<10 {
                group.addTask {
                    try await engine.execute(HTTPRequest(method: "GET", url: server.url("/slow/200"))).status
                }
            }
            for try await status in group { #expect(status == 200) }
        }
        let elapsed = Date().timeIntervalSince(started)
        #expect(elapsed >= 0.95, "10 transfers of 200 ms over 2 connections took \(elapsed) s")
        #expect(engine.statistics.connectionsOpened == 2)
    }

    /// curl 7.88 does not time out transfers queued for a connection: the engine does.
    @Test func timeoutCountsTheWaitForAConnection() async throws {
        let server = try EchoServerProcess()
        var configuration = HTTPEngineConfiguration()
        configuration.maxConnectionsPerHost = 1
        let engine = try HTTPEngine(configuration: configuration)
        // The blocker holds the only connection for 5 s; the waiting request gives up after
        // 0.5 s. 3.5 s leaves a loaded machine room and still tells the two apart.
        async let blocker = engine.execute(HTTPRequest(method: "GET", url: server.url("/slow/5000")))
        while engine.inFlight == 0 { try await Task.sleep(nanoseconds: 5_000_000) }
        try await Task.sleep(nanoseconds: 100_000_000)
        let started = Date()
        let waiting = await httpError {
            try await engine.execute(HTTPRequest(method: "GET", url: server.url("/bytes/1"), timeout: 0.5))
        }
        let elapsed = Date().timeIntervalSince(started)
        #expect(waiting?.code == .timeout)
        #expect(elapsed < 3.5)
        #expect(try await blocker.status == 200)
    }
}
