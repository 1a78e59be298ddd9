import CCurl
import CCurlShims
import Foundation

/// Runs every transfer on one libcurl multi handle, driven by one dedicated thread.
///
/// Why: a consumer keeps hundreds of GET/PUT copies in flight; a thread (or a blocking
/// easy handle) per copy would cost a stack and a connection setup each, while one multi
/// handle multiplexes all sockets on one thread and keeps a shared pool of keep-alive
/// connections per host. Callers just `await execute(_:)` from any task.
public final class HTTPEngine: @unchecked Sendable {
    private let core: EngineCore

    public init(configuration: HTTPEngineConfiguration = .init()) throws {
        core = try EngineCore(configuration: configuration)
        core.start()
    }

    /// Sends `request` and returns the complete response, whatever its status.
    /// Throws `HTTPError` when no response arrived, and `CancellationError` when the
    /// calling task was cancelled (the transfer is aborted and its connection closed).
    public func execute(_ request: HTTPRequest) async throws -> HTTPResponse {
        let transfer = try Transfer(request)
        try Task.checkCancellation()
        let core = self.core
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                transfer.continuation = continuation
                core.submit(transfer)
            }
        } onCancel: {
            core.cancel(transfer)
        }
    }

    /// Transfers submitted and not yet finished (including those waiting inside curl for
    /// a free connection).
    public var inFlight: Int { core.inFlight }

    /// Counters since the engine started.
    public var statistics: HTTPEngineStatistics { core.statistics }

    /// The CA file TLS transfers verify against (`HTTPEngineConfiguration.caBundlePath`,
    /// `SSL_CERT_FILE` or curl's built-in bundle), nil when curl has none built in and its
    /// own defaults apply.
    public var caBundlePath: String? { core.caFile }

    /// The proxies transfers go through (`HTTPEngineConfiguration.proxies`).
    public var proxies: HTTPProxies { core.proxies }

    /// Fails what is in flight with `.engineStopped`, stops the engine thread and waits
    /// for it to exit. Later `execute` calls throw `.engineStopped`. Idempotent.
    public func shutdown() { core.shutdown() }

    deinit { core.shutdown() }
}

/// The engine's state and its thread. Separate from `HTTPEngine` so that the thread
/// (which retains this object) does not keep the public engine alive: dropping the last
/// `HTTPEngine` reference shuts everything down.
final class EngineCore: @unchecked Sendable {
    /// State shared between callers and the engine thread, guarded by `lock`.
    private struct Shared {
        var submissions: [Transfer] = []
        var cancellations: [Transfer] = []
        var stopping = false
        var inFlight = 0
        var statistics = HTTPEngineStatistics()
    }

    /// The multi handle, owned here; only the engine thread uses it (curl_multi_wakeup
    /// excepted, which curl allows from any thread).
    private let multi: UnsafeMutableRawPointer
    /// A share handle holding TLS sessions (CURL_LOCK_DATA_SSL_SESSION), set on every easy
    /// handle: without it each easy handle keeps its own sessions, so a new connection
    /// resumed a session only when it happened to get the pooled handle that had one. No
    /// lock callbacks: every handle that uses it lives on the engine thread. (The multi
    /// handle already shares connections, DNS and the CA store.)
    private let share: UnsafeMutableRawPointer
    private let connectTimeoutMilliseconds: Int
    /// CURLOPT_CAINFO for every transfer, nil to leave curl's built-in defaults.
    let caFile: String?
    let proxies: HTTPProxies
    private let lock = NSLock()
    private var shared = Shared()
    private let finished = DispatchGroup()
    /// Guarded by `lock`.
    private var started = false

    // Engine thread only.
    private var active: [UnsafeMutableRawPointer: Transfer] = [:]
    private var idleHandles: [EasyHandle] = []
    private let maxIdleHandles = 256
    /// No active transfer's deadline is earlier than this (monotonic nanoseconds).
    private var nextDeadline: UInt64 = .max

    init(configuration: HTTPEngineConfiguration) throws {
        guard curlGlobalInit == CURLE_OK else {
            throw HTTPError(
                code: .transport, message: "curl_global_init failed", curlCode: Int32(curlGlobalInit.rawValue))
        }
        guard let share = curl_share_init() else {
            throw HTTPError(code: .transport, message: "curl_share_init failed")
        }
        let shared = bf_share_setopt_share(share, CURL_LOCK_DATA_SSL_SESSION)
        guard shared == CURLSHE_OK, let multi = curl_multi_init() else {
            curl_share_cleanup(share)
            throw HTTPError(code: .transport, message: "curl_multi_init or curl_share_setopt failed")
        }
        self.multi = multi
        self.share = share
        let perHost = max(1, configuration.maxConnectionsPerHost)
        let total = max(perHost, configuration.maxTotalConnections)
        _ = bf_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, perHost)
        _ = bf_multi_setopt_long(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, total)
        _ = bf_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, total)
        connectTimeoutMilliseconds = max(1, Int((configuration.connectTimeout * 1000).rounded(.up)))
        proxies = configuration.proxies ?? HTTPProxies.from(environment: ProcessInfo.processInfo.environment)
        do {
            caFile = try EngineCore.caFile(
                configured: configuration.caBundlePath, environment: ProcessInfo.processInfo.environment)
        } catch {
            curl_multi_cleanup(multi)
            curl_share_cleanup(share)
            throw error
        }
    }

    /// The CA file to verify servers against: the configured one, else `SSL_CERT_FILE`,
    /// else the bundle curl was built with (nil when it has none). A file named by the
    /// caller or the environment must be a readable file: otherwise every HTTPS transfer
    /// would fail later with a less direct message.
    static func caFile(configured: String?, environment: [String: String]) throws -> String? {
        let chosen: (path: String, origin: String)
        if let configured {
            chosen = (configured, "CA bundle")
        } else if let variable = environment["SSL_CERT_FILE"], !variable.isEmpty {
            chosen = (variable, "CA bundle (SSL_CERT_FILE)")
        } else {
            guard let builtIn = bf_curl_builtin_cainfo() else { return nil }
            return String(cString: builtIn)
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: chosen.path, isDirectory: &isDirectory) else {
            throw HTTPError(code: .invalidRequest, message: "\(chosen.origin) \(chosen.path) does not exist")
        }
        guard !isDirectory.boolValue, FileManager.default.isReadableFile(atPath: chosen.path) else {
            throw HTTPError(
                code: .invalidRequest, message: "\(chosen.origin) \(chosen.path) is not a readable file")
        }
        return chosen.path
    }

    deinit {
        // Connections first (they belong to the multi handle), then the easy handles that
        // still point at the share, then the share itself.
        curl_multi_cleanup(multi)
        idleHandles.removeAll()
        curl_share_cleanup(share)
    }

    func start() {
        finished.enter()
        lock.withLock { started = true }
        let thread = Thread { [self] in
            Thread.current.name = "blobferry-http"  // names the OS thread (top, perf)
            run()
            finished.leave()
        }
        thread.start()
    }

    var inFlight: Int { lock.withLock { shared.inFlight } }
    var statistics: HTTPEngineStatistics { lock.withLock { shared.statistics } }

    /// Queues `transfer` for the engine thread (any thread). Fails it at once when the
    /// engine is stopping or its task was already cancelled.
    func submit(_ transfer: Transfer) {
        enum Outcome { case queued(wake: Bool), stopped, cancelled }
        let outcome: Outcome = lock.withLock {
            if shared.stopping { return .stopped }
            if transfer.cancelRequested { return .cancelled }
            shared.submissions.append(transfer)
            shared.inFlight += 1
            // One wakeup per batch: when the queue was already non-empty a wakeup is
            // pending and the engine will drain this submission with the others.
            return .queued(wake: shared.submissions.count == 1)
        }
        switch outcome {
        case .queued(let wake):
            if wake { curl_multi_wakeup(multi) }
        case .stopped:
            transfer.continuation?.resume(throwing: EngineCore.stoppedError)
            transfer.continuation = nil
        case .cancelled:
            transfer.continuation?.resume(throwing: CancellationError())
            transfer.continuation = nil
        }
    }

    /// Asks the engine thread to abort `transfer` (any thread; from a task's
    /// cancellation handler). Harmless when the transfer has already finished.
    func cancel(_ transfer: Transfer) {
        let wake: Bool = lock.withLock {
            transfer.cancelRequested = true
            if shared.stopping { return false }
            shared.cancellations.append(transfer)
            return shared.cancellations.count == 1 && shared.submissions.isEmpty
        }
        if wake { curl_multi_wakeup(multi) }
    }

    func shutdown() {
        let wasStarted: Bool = lock.withLock {
            shared.stopping = true
            return started
        }
        guard wasStarted else { return }
        curl_multi_wakeup(multi)
        finished.wait()
    }

    private static let stoppedError = HTTPError(code: .engineStopped, message: "the HTTP engine was shut down")

    // MARK: engine thread

    private func run() {
        var submissions: [Transfer] = []
        var cancellations: [Transfer] = []
        var outcomes: [(Transfer, Result<HTTPResponse, Error>)] = []
        while true {
            let cpu = EngineCore.threadCPUSeconds()
            let stopping: Bool = lock.withLock {
                swap(&submissions, &shared.submissions)
                swap(&cancellations, &shared.cancellations)
                shared.statistics.engineThreadCPUSeconds = cpu
                return shared.stopping
            }
            if stopping {
                outcomes.append(contentsOf: submissions.map { ($0, .failure(EngineCore.stoppedError)) })
                submissions.removeAll()
                break
            }
            for transfer in submissions {
                if let failure = add(transfer) { outcomes.append((transfer, .failure(failure))) }
            }
            submissions.removeAll(keepingCapacity: true)
            for transfer in cancellations {
                guard let easy = transfer.easy, active[easy.raw] === transfer else { continue }
                release(transfer)
                outcomes.append((transfer, .failure(CancellationError())))
            }
            cancellations.removeAll(keepingCapacity: true)
            deliver(&outcomes)  // failed adds and cancellations, before waiting

            var running: Int32 = 0
            _ = curl_multi_perform(multi, &running)
            var finishedHandle: UnsafeMutableRawPointer? = nil
            var result = CURLE_OK
            while bf_multi_info_read_done(multi, &finishedHandle, &result) != 0 {
                guard let handle = finishedHandle, let transfer = active[handle] else { continue }
                outcomes.append((transfer, complete(transfer, result: result)))
            }
            let now = monotonicNanoseconds()
            if now >= nextDeadline { expireTransfers(now: now, into: &outcomes) }
            deliver(&outcomes)

            // Sleeps until a socket is ready, curl's next timer, a wakeup (submission,
            // cancellation, shutdown), our earliest deadline, or 1 s.
            var waitMilliseconds: Int32 = 1000
            if nextDeadline != .max {
                let untilDeadline = nextDeadline > now ? (nextDeadline - now + 999_999) / 1_000_000 : 0
                waitMilliseconds = Int32(min(UInt64(waitMilliseconds), untilDeadline))
            }
            if curl_multi_poll(multi, nil, 0, waitMilliseconds, nil) != CURLM_OK {
                usleep(1000)  // should not happen; never spin
            }
        }
        // Stopping: fail everything still running, then free the handles.
        for transfer in Array(active.values) {
            release(transfer)
            outcomes.append((transfer, .failure(EngineCore.stoppedError)))
        }
        lock.withLock {
            outcomes.append(contentsOf: shared.submissions.map { ($0, .failure(EngineCore.stoppedError)) })
            shared.submissions.removeAll()
            shared.cancellations.removeAll()
        }
        deliver(&outcomes)
        idleHandles.removeAll()
    }

    /// Configures an easy handle for `transfer` and adds it to the multi handle; returns
    /// the error when that failed.
    private func add(_ transfer: Transfer) -> HTTPError? {
        let easy: EasyHandle
        if let pooled = idleHandles.popLast() {
            easy = pooled
        } else if let fresh = EasyHandle() {
            easy = fresh
        } else {
            return HTTPError(code: .transport, message: "curl_easy_init failed (host \(transfer.host))")
        }
        let code = transfer.configure(
            easy, connectTimeoutMilliseconds: connectTimeoutMilliseconds, caFile: caFile, proxies: proxies,
            share: share)
        guard code == CURLE_OK else {
            let error = EngineCore.error(for: code, easy: easy, transfer: transfer)
            recycle(easy)
            return error
        }
        transfer.easy = easy
        if transfer.timeoutMilliseconds > 0 {
            transfer.deadline =
                monotonicNanoseconds() &+ UInt64(transfer.timeoutMilliseconds) &* 1_000_000
            nextDeadline = min(nextDeadline, transfer.deadline)
        }
        active[easy.raw] = transfer
        let added = curl_multi_add_handle(multi, easy.raw)
        guard added == CURLM_OK else {
            active[easy.raw] = nil
            transfer.easy = nil
            recycle(easy)
            return HTTPError(
                code: .transport,
                message:
                    "curl_multi_add_handle failed: \(String(cString: curl_multi_strerror(added))) (host \(transfer.host))"
            )
        }
        return nil
    }

    /// Takes a transfer's easy handle out of the multi handle and back to the pool.
    private func release(_ transfer: Transfer) {
        guard let easy = transfer.easy else { return }
        curl_multi_remove_handle(multi, easy.raw)
        active[easy.raw] = nil
        transfer.easy = nil
        recycle(easy)
    }

    private func recycle(_ easy: EasyHandle) {
        curl_easy_reset(easy.raw)
        if idleHandles.count < maxIdleHandles { idleHandles.append(easy) }
    }

    /// Builds the outcome of a transfer curl reported done, and releases its handle.
    private func complete(_ transfer: Transfer, result: CURLcode) -> Result<HTTPResponse, Error> {
        guard let easy = transfer.easy else {
            return .failure(HTTPError(code: .transport, message: "transfer without a handle (host \(transfer.host))"))
        }
        var connects = 0
        _ = bf_easy_getinfo_long(easy.raw, CURLINFO_NUM_CONNECTS, &connects)
        if connects > 0 { pendingConnects += connects }
        let outcome: Result<HTTPResponse, Error>
        if result == CURLE_OK {
            var status = 0
            _ = bf_easy_getinfo_long(easy.raw, CURLINFO_RESPONSE_CODE, &status)
            var body: [UInt8] = []
            swap(&body, &transfer.responseBody)
            outcome = .success(HTTPResponse(status: status, headers: transfer.responseHeaders, body: body))
        } else {
            outcome = .failure(EngineCore.error(for: result, easy: easy, transfer: transfer))
        }
        transfer.responseHeaders = []
        release(transfer)
        return outcome
    }

    private var pendingConnects = 0

    /// Fails transfers past their deadline that curl has not failed itself: curl 7.88
    /// does not time out a transfer while it waits for a free connection
    /// (CURLMOPT_MAX_HOST_CONNECTIONS), so without this a queued transfer could wait far
    /// past its timeout. Runs only when the earliest deadline has passed.
    private func expireTransfers(now: UInt64, into outcomes: inout [(Transfer, Result<HTTPResponse, Error>)]) {
        var earliest: UInt64 = .max
        var expired: [Transfer] = []
        for transfer in active.values {
            if transfer.deadline <= now {
                expired.append(transfer)
            } else {
                earliest = min(earliest, transfer.deadline)
            }
        }
        nextDeadline = earliest
        for transfer in expired {
            release(transfer)
            let error = HTTPError(
                code: .timeout,
                message: "Operation timed out after \(transfer.timeoutMilliseconds) milliseconds"
                    + " (waiting for a connection or a response) (host \(transfer.host))",
                curlCode: Int32(CURLE_OPERATION_TIMEDOUT.rawValue))
            outcomes.append((transfer, .failure(error)))
        }
    }

    /// Updates the counters, then resumes the callers (outside the lock).
    private func deliver(_ outcomes: inout [(Transfer, Result<HTTPResponse, Error>)]) {
        guard !outcomes.isEmpty || pendingConnects > 0 else { return }
        var completed = 0
        for (_, outcome) in outcomes {
            if case .success = outcome { completed += 1 }
        }
        let connects = pendingConnects
        pendingConnects = 0
        let count = outcomes.count
        lock.withLock {
            shared.inFlight -= count
            shared.statistics.completed += completed
            shared.statistics.failed += count - completed
            shared.statistics.connectionsOpened += connects
        }
        for (transfer, outcome) in outcomes {
            transfer.continuation?.resume(with: outcome)
            transfer.continuation = nil
        }
        outcomes.removeAll(keepingCapacity: true)
    }

    private static func error(for code: CURLcode, easy: EasyHandle, transfer: Transfer) -> HTTPError {
        // curl quotes a proxy URL as given, password included.
        var text = HTTPProxies.withoutUserInfo(easy.errorText(code))
        // curl's messages name hosts, not full URLs; make sure no query string slips out.
        if let query = transfer.url.firstIndex(of: "?") {
            let secret = String(transfer.url[query...])
            if secret.count > 1 { text = text.replacingOccurrences(of: secret, with: "?…") }
            text = text.replacingOccurrences(of: transfer.url, with: transfer.host)
        }
        if Int32(code.rawValue) == HTTPError.peerFailedVerification {
            // One line that says what is wrong and with whom, in the words of the
            // verification ("unable to get local issuer certificate", a name mismatch).
            let reason = text.replacingOccurrences(of: "SSL certificate problem: ", with: "")
            return HTTPError(
                code: .transport, message: "TLS: certificate of \(transfer.host) not trusted (\(reason))",
                curlCode: Int32(code.rawValue))
        }
        let kind: HTTPError.Code
        switch code {
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            kind = .couldNotConnect
        case CURLE_OPERATION_TIMEDOUT:
            kind = .timeout
        case CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT, CURLE_BAD_FUNCTION_ARGUMENT:
            kind = .invalidRequest
        default:
            kind = .transport
        }
        return HTTPError(code: kind, message: "\(text) (host \(transfer.host))", curlCode: Int32(code.rawValue))
    }

    private static func threadCPUSeconds() -> Double {
        var spec = timespec()
        guard clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec) == 0 else { return 0 }
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }
}

/// Monotonic clock in nanoseconds, for deadlines.
func monotonicNanoseconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
}
