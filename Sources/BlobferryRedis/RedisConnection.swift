import Foundation

/// One connection, one owner (not thread-safe; callers serialize). Reconnects lazily.
///
/// Each call is a blocking round trip on a hiredis connection; a process that needs
/// parallel Redis work opens one connection per thread or task.
///
/// Failure and reconnect semantics:
/// - When a command fails because the connection broke or the server did not answer within
///   `commandTimeout`, the connection is discarded and the call throws `.connectionLost` or
///   `.timeout`. The command may or may not have run on the server: only the caller knows
///   whether retrying it is safe (idempotent commands, or Lua scripts written to be re-run).
/// - The NEXT call reconnects before sending: it retries with exponential backoff (100 ms
///   doubling to 5 s, each delay jittered by ±25 %) until `reconnectWindow` has passed, then
///   throws `.connectionFailed`. `onReconnectAttempt` is called after each failed attempt so
///   callers can log "Redis unreachable, retrying". A server that answers LOADING (still
///   reading its AOF after a restart) counts as not reachable yet.
/// - Before each call an idle socket the server already closed (restart, idle timeout) is
///   noticed without sending anything, and the call reconnects instead of failing.
/// - Every new connection re-sends AUTH and SELECT. A refused AUTH is not retried: it throws
///   `.authenticationFailed` at once.
/// - Script SHAs stay cached across reconnects (a SHA depends only on the source); a server
///   that lost its script cache answers NOSCRIPT and the script is loaded again.
/// - `init` connects once and fails fast with `.connectionFailed`, unless `waitForServer`
///   is true, in which case it uses the same backoff as a reconnect.
/// - An error reply that means "not now" rather than "no" (`LOADING`, `BUSY` while a script
///   runs, `READONLY` from a replica after a failover, `MASTERDOWN`, `TRYAGAIN`) says the
///   command did not run: the call drops the connection (a failover may have moved the
///   primary behind the same address), waits with the reconnect backoff and sends it again,
///   within `reconnectWindow`, then throws `.connectionFailed` naming the reply.
/// - A timeout applies to each socket read or write, not to a whole pipeline.
///
/// The process ignores SIGPIPE from the first connection on (hiredis writes with write(2)),
/// unless it already installed its own handler.
public final class RedisConnection {
    public let configuration: RedisConfiguration

    /// Called after each failed connection attempt of a reconnect with the attempt number
    /// (1, 2, ...) and the reason, before the backoff sleep.
    public var onReconnectAttempt: ((Int, RedisError) -> Void)?

    private var context: HiredisContext?
    private var scriptSHAs: [String: String] = [:]

    /// How many times a broken connection was re-established (for logs and tests).
    public private(set) var reconnectCount = 0

    /// Whether a live connection is held right now (false after a failure or `close()`,
    /// until the next call reconnects).
    public var isConnected: Bool { context != nil }

    /// Connects, sends AUTH (user and password, or password only) and SELECT.
    /// Throws `.connectionFailed`, `.authenticationFailed` (with Redis's message) or
    /// `.serverError` (e.g. a database index out of range).
    public init(
        configuration: RedisConfiguration, waitForServer: Bool = false,
        onReconnectAttempt: ((Int, RedisError) -> Void)? = nil
    ) throws {
        self.configuration = configuration
        self.onReconnectAttempt = onReconnectAttempt
        if waitForServer {
            context = try connectWithBackoff()
        } else {
            do {
                context = try connectOnce(deadline: Self.now() + max(configuration.connectTimeout, 0.05))
            } catch let failure as HandshakeFailure {
                throw failure.error
            }
        }
    }

    /// Sends one command and returns its reply; an error reply throws
    /// `RedisError(.serverError, message)`.
    public func send(_ arguments: [RedisArgument]) throws -> RedisReply {
        if arguments.isEmpty { throw RedisError(.protocolError, "a Redis command needs at least one argument") }
        let reply = try retryingWhileNotReady { try perform { try $0.command(arguments) } }
        if case .error(let message) = reply { throw RedisError(.serverError, message) }
        return reply
    }

    /// Sends one command and returns its reply; an error reply throws
    /// `RedisError(.serverError, message)`.
    public func send(_ arguments: RedisArgument...) throws -> RedisReply {
        try send(arguments)
    }

    /// Appends every command then reads every reply (one round trip); error replies come back as .error elements, not thrown.
    ///
    /// Replies are in command order. A transport failure part way through throws (and
    /// drops the connection): some of the commands may have run. When any reply says "not
    /// now" (see above) the whole pipeline is sent again, so pipelines must be idempotent.
    public func pipeline(_ commands: [[RedisArgument]]) throws -> [RedisReply] {
        guard !commands.isEmpty else { return [] }
        if commands.contains(where: { $0.isEmpty }) {
            throw RedisError(.protocolError, "a Redis command needs at least one argument")
        }
        return try retryingWhileNotReady { try sendPipeline(commands) }
    }

    private func sendPipeline(_ commands: [[RedisArgument]]) throws -> [RedisReply] {
        try perform { context in
            for command in commands { try context.append(command) }
            var replies: [RedisReply] = []
            replies.reserveCapacity(commands.count)
            for _ in commands { replies.append(try context.readReply()) }
            return replies
        }
    }

    /// Runs `script` by EVALSHA, loading it first if this connection has not learned its
    /// SHA yet, and once more if the server answers NOSCRIPT. An error reply (including a
    /// Lua error) throws `.serverError`.
    public func evalScript(
        _ script: RedisScript, keys: [RedisArgument], arguments: [RedisArgument]
    ) throws -> RedisReply {
        let sha = try scriptSHAs[script.source] ?? loadScript(script)
        var reply = try retryingWhileNotReady {
            try perform { try $0.command(Self.evalSHA(sha, keys: keys, arguments: arguments)) }
        }
        if case .error(let message) = reply, message.hasPrefix("NOSCRIPT") {
            let reloaded = try loadScript(script)
            reply = try retryingWhileNotReady {
                try perform { try $0.command(Self.evalSHA(reloaded, keys: keys, arguments: arguments)) }
            }
        }
        if case .error(let message) = reply { throw RedisError(.serverError, message) }
        return reply
    }

    /// Loads `script` with SCRIPT LOAD and returns its SHA1 (cached on this connection), for
    /// callers that put EVALSHA commands in a `pipeline`.
    @discardableResult
    public func loadScript(_ script: RedisScript) throws -> String {
        let reply = try send("SCRIPT", "LOAD", RedisArgument(script.source))
        guard let sha = reply.string, !sha.isEmpty else {
            throw RedisError(.protocolError, "SCRIPT LOAD returned \(reply) instead of a SHA1")
        }
        scriptSHAs[script.source] = sha
        return sha
    }

    /// The SHA1 this connection learned for `script`, if it loaded it already.
    public func cachedSHA(of script: RedisScript) -> String? { scriptSHAs[script.source] }

    /// Closes the socket now. The object stays usable: a later call reconnects.
    public func close() {
        context = nil
    }

    // MARK: - Internals

    /// Error replies after which the command did not run and the server may accept it soon.
    static func isNotReady(_ message: String) -> Bool {
        ["LOADING", "BUSY", "READONLY", "MASTERDOWN", "TRYAGAIN"].contains { message.hasPrefix($0) }
    }

    /// Sends again, with the reconnect backoff, while the reply (or any reply of a
    /// pipeline) says "not now"; gives up after `reconnectWindow` with `.connectionFailed`.
    private func retryingWhileNotReady<Reply>(_ body: () throws -> Reply) throws -> Reply {
        let window = max(configuration.reconnectWindow, 0)
        let deadline = Self.now() + window
        var delay = 0.1
        var attempt = 0
        while true {
            let reply = try body()
            let replies = (reply as? [RedisReply]) ?? ((reply as? RedisReply).map { [$0] } ?? [])
            guard let message = replies.lazy.compactMap(\.errorMessage).first(where: Self.isNotReady) else {
                return reply
            }
            attempt += 1
            let error = RedisError(.connectionFailed, "server not ready: \(message)")
            onReconnectAttempt?(attempt, error)
            let remaining = deadline - Self.now()
            if remaining <= 0 {
                throw RedisError(
                    .connectionFailed,
                    "not ready for \(Self.format(window)) s (\(attempt) attempts); last reply: \(message)")
            }
            context = nil
            Thread.sleep(forTimeInterval: min(remaining, delay * Double.random(in: 0.75...1.25)))
            delay = min(delay * 2, 5)
        }
    }

    private static func evalSHA(_ sha: String, keys: [RedisArgument], arguments: [RedisArgument]) -> [RedisArgument] {
        [RedisArgument("EVALSHA"), RedisArgument(sha), RedisArgument(keys.count)] + keys + arguments
    }

    /// Runs `body` on a connected context, reconnecting first if needed; any transport
    /// failure drops the context so the next call starts from a fresh connection.
    private func perform<Result>(_ body: (HiredisContext) throws -> Result) throws -> Result {
        let live: HiredisContext
        if let context, !context.isStale {
            live = context
        } else {
            live = try connectWithBackoff()
            context = live
            reconnectCount += 1
        }
        do {
            return try body(live)
        } catch let error as RedisError {
            context = nil
            switch error.code {
            case .timeout:
                throw RedisError(
                    .timeout,
                    "no reply within \(Self.format(configuration.commandTimeout)) s (commandTimeout); "
                        + "the command may or may not have run")
            case .connectionLost:
                throw RedisError(.connectionLost, "\(error.message); the command may or may not have run")
            default:
                throw error
            }
        } catch {
            context = nil
            throw error
        }
    }

    /// A failed connection attempt; `retryable` is false for answers that waiting will not
    /// change (a refused AUTH, a bad database index).
    private struct HandshakeFailure: Error {
        let error: RedisError
        let retryable: Bool
    }

    /// Connects until `reconnectWindow` has passed, with jittered exponential backoff.
    private func connectWithBackoff() throws -> HiredisContext {
        let window = max(configuration.reconnectWindow, 0)
        let deadline = Self.now() + window
        var delay = 0.1
        var attempt = 0
        while true {
            attempt += 1
            let attemptDeadline = min(deadline, Self.now() + max(configuration.connectTimeout, 0.05))
            do {
                return try connectOnce(deadline: max(attemptDeadline, Self.now() + 0.05))
            } catch let failure as HandshakeFailure {
                guard failure.retryable else { throw failure.error }
                onReconnectAttempt?(attempt, failure.error)
                let remaining = deadline - Self.now()
                if remaining <= 0 {
                    throw RedisError(
                        .connectionFailed,
                        "unreachable for \(Self.format(window)) s (\(attempt) attempts); last error: "
                            + failure.error.message)
                }
                Thread.sleep(forTimeInterval: min(remaining, delay * Double.random(in: 0.75...1.25)))
                delay = min(delay * 2, 5)
            }
        }
    }

    /// One attempt: TCP connect, AUTH, SELECT, PING (to see LOADING), all before `deadline`.
    private func connectOnce(deadline: TimeInterval) throws -> HiredisContext {
        let budget = max(deadline - Self.now(), 0.05)
        let context: HiredisContext
        do {
            context = try HiredisContext.connect(
                host: configuration.host, port: configuration.port, timeout: budget)
            try context.setTimeout(budget)
        } catch let error as RedisError {
            throw HandshakeFailure(error: RedisError(.connectionFailed, error.message), retryable: true)
        }

        func handshake(_ arguments: [RedisArgument], what: String) throws -> RedisReply {
            do {
                return try context.command(arguments)
            } catch let error as RedisError {
                throw HandshakeFailure(
                    error: RedisError(.connectionFailed, "\(what) failed: \(error.message)"), retryable: true)
            }
        }
        func loading(_ message: String) -> HandshakeFailure {
            HandshakeFailure(
                error: RedisError(.connectionFailed, "server not ready: \(message)"), retryable: true)
        }

        if let password = configuration.password {
            var auth: [RedisArgument] = ["AUTH"]
            if let username = configuration.username { auth.append(RedisArgument(username)) }
            auth.append(RedisArgument(password))
            if case .error(let message) = try handshake(auth, what: "AUTH") {
                if message.hasPrefix("LOADING") { throw loading(message) }
                throw HandshakeFailure(
                    error: RedisError(.authenticationFailed, "AUTH refused: \(message)"),
                    retryable: false)
            }
        }
        if configuration.database != 0 {
            if case .error(let message) = try handshake(
                ["SELECT", RedisArgument(configuration.database)], what: "SELECT")
            {
                if message.hasPrefix("LOADING") { throw loading(message) }
                throw HandshakeFailure(
                    error: RedisError(.serverError, "SELECT \(configuration.database) failed: \(message)"),
                    retryable: false)
            }
        }
        // PING tells a server still loading its data set apart from a ready one, and a server
        // that wants a password we did not give. Any other error (e.g. NOPERM for a user
        // without @connection) still means "ready".
        if case .error(let message) = try handshake(["PING"], what: "PING") {
            if Self.isNotReady(message) { throw loading(message) }
            if message.hasPrefix("DENIED") {
                // Protected mode: a server without a password refuses non-loopback clients
                // and closes the connection; waiting will not change that.
                throw HandshakeFailure(
                    error: RedisError(
                        .authenticationFailed,
                        "the server refuses this client (protected mode: give Redis a password or an ACL user): \(message)"
                    ),
                    retryable: false)
            }
            if message.hasPrefix("NOAUTH") {
                throw HandshakeFailure(
                    error: RedisError(.authenticationFailed, "the server requires a password: \(message)"),
                    retryable: false)
            }
        }
        do {
            try context.setTimeout(configuration.commandTimeout)
        } catch let error as RedisError {
            throw HandshakeFailure(error: RedisError(.connectionFailed, error.message), retryable: true)
        }
        return context
    }

    private static func now() -> TimeInterval {
        TimeInterval(DispatchTime.now().uptimeNanoseconds) / 1e9
    }

    private static func format(_ seconds: TimeInterval) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(format: "%.1f", seconds)
    }
}
