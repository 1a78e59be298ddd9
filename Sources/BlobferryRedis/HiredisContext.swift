import CHiredis
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The single owner of one hiredis `redisContext` (a blocking TCP connection).
///
/// The C pointer never leaves this class: commands go in as `RedisArgument`s with explicit
/// lengths, replies come out as `RedisReply` values and the hiredis reply objects are freed
/// right after conversion. `redisFree` runs in `deinit`, so dropping the last reference
/// closes the socket. Any transport failure throws; the caller must then drop the context,
/// because a late reply would otherwise be read as the answer to the next command.
final class HiredisContext {
    private let context: UnsafeMutablePointer<redisContext>

    private init(_ context: UnsafeMutablePointer<redisContext>) { self.context = context }

    deinit { redisFree(context) }

    /// Opens a TCP connection; throws `.connectionFailed` with hiredis's reason.
    static func connect(host: String, port: Int, timeout: TimeInterval) throws -> HiredisContext {
        _ = ignoreSIGPIPE
        let raw: UnsafeMutablePointer<redisContext>? =
            timeout > 0
            ? redisConnectWithTimeout(host, Int32(clamping: port), timeval(seconds: timeout))
            : redisConnect(host, Int32(clamping: port))
        guard let raw else {
            throw RedisError(.connectionFailed, "connect failed: out of memory")
        }
        let owner = HiredisContext(raw)
        if raw.pointee.err != 0 {
            throw RedisError(.connectionFailed, "connect failed: \(owner.errorText)")
        }
        return owner
    }

    /// Sets the socket read/write timeout for every following command; 0 means none.
    func setTimeout(_ seconds: TimeInterval) throws {
        if redisSetTimeout(context, timeval(seconds: max(0, seconds))) != REDIS_OK {
            throw failure()
        }
    }

    /// Sends one command and reads its reply (error replies are returned, not thrown).
    func command(_ arguments: [RedisArgument]) throws -> RedisReply {
        let raw = try Self.withArgv(arguments) { argc, argv, lengths in
            redisCommandArgv(context, argc, argv, lengths)
        }
        guard let raw else { throw failure() }
        defer { freeReplyObject(raw) }
        return try Self.convert(raw.assumingMemoryBound(to: redisReply.self))
    }

    /// Queues one command in the output buffer without sending it (pipelining).
    func append(_ arguments: [RedisArgument]) throws {
        let status = try Self.withArgv(arguments) { argc, argv, lengths in
            redisAppendCommandArgv(context, argc, argv, lengths)
        }
        if status != REDIS_OK { throw failure() }
    }

    /// Flushes queued commands if needed and reads the next reply.
    func readReply() throws -> RedisReply {
        var raw: UnsafeMutableRawPointer?
        let status = redisGetReply(context, &raw)
        guard status == REDIS_OK, let raw else { throw failure() }
        defer { freeReplyObject(raw) }
        return try Self.convert(raw.assumingMemoryBound(to: redisReply.self))
    }

    /// Whether the socket is already unusable before anything is sent: the server closed it
    /// (restart, idle `timeout`, CLIENT KILL) or left unexpected bytes on it. Checking first
    /// lets a call reconnect instead of failing a command that was never sent.
    var isStale: Bool {
        let fd = context.pointee.fd
        guard fd >= 0 else { return true }
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, 0)
        if ready == 0 { return false }  // nothing pending: the normal case
        if ready < 0 { return errno != EINTR }
        // Readable (or hung up, or invalid) while idle: EOF, an error, or bytes nobody asked
        // for. All mean "reconnect".
        return true
    }

    /// hiredis's description of the last error on this context.
    private var errorText: String {
        withUnsafeBytes(of: context.pointee.errstr) { bytes in
            String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }

    /// Classifies the context's error right after a failed call: a socket timeout (EAGAIN
    /// on a blocking socket with SO_RCVTIMEO/SO_SNDTIMEO) is `.timeout`, a bad reply is
    /// `.protocolError`, everything else (EOF, reset, broken pipe) is `.connectionLost`.
    private func failure() -> RedisError {
        let savedErrno = errno
        let text = errorText
        switch context.pointee.err {
        case REDIS_ERR_IO
        where savedErrno == EAGAIN || savedErrno == EWOULDBLOCK || text.contains("temporarily unavailable"):
            return RedisError(.timeout, "no reply within the timeout")
        case REDIS_ERR_PROTOCOL:
            return RedisError(.protocolError, "unreadable reply: \(text)")
        case 0:
            return RedisError(.connectionLost, "connection lost (errno \(savedErrno))")
        default:
            return RedisError(.connectionLost, "connection lost: \(text.isEmpty ? "unknown error" : text)")
        }
    }

    /// Lays every argument out in one buffer and hands hiredis pointers plus explicit
    /// lengths, so NUL bytes and any other byte travel unchanged.
    private static func withArgv<Result>(
        _ arguments: [RedisArgument],
        _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> Result
    ) throws -> Result {
        guard !arguments.isEmpty else {
            throw RedisError(.protocolError, "a Redis command needs at least one argument")
        }
        var storage: [UInt8] = []
        storage.reserveCapacity(arguments.reduce(1) { $0 + $1.bytes.count })
        var offsets: [Int] = []
        var lengths: [Int] = []
        offsets.reserveCapacity(arguments.count)
        lengths.reserveCapacity(arguments.count)
        for argument in arguments {
            offsets.append(storage.count)
            lengths.append(argument.bytes.count)
            storage.append(contentsOf: argument.bytes)
        }
        storage.append(0)  // never empty, so the base address exists even for empty arguments
        let result: Result? = storage.withUnsafeBufferPointer { bytes -> Result? in
            guard let base = bytes.baseAddress else { return nil }
            let characters = UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self)
            var argv: [UnsafePointer<CChar>?] = offsets.map { characters + $0 }
            return argv.withUnsafeMutableBufferPointer { argvBuffer -> Result? in
                lengths.withUnsafeBufferPointer { lengthBuffer -> Result? in
                    guard let argvBase = argvBuffer.baseAddress, let lengthBase = lengthBuffer.baseAddress else {
                        return nil
                    }
                    return body(Int32(clamping: arguments.count), argvBase, lengthBase)
                }
            }
        }
        guard let result else { throw RedisError(.protocolError, "could not lay out command arguments") }
        return result
    }

    /// Copies a hiredis reply tree into Swift values (the caller frees the C tree).
    private static func convert(_ reply: UnsafePointer<redisReply>) throws -> RedisReply {
        let value = reply.pointee
        func text() -> [UInt8] {
            guard let str = value.str, value.len > 0 else { return [] }
            return Array(UnsafeRawBufferPointer(start: str, count: value.len))
        }
        switch value.type {
        case REDIS_REPLY_STRING:
            return .bulk(text())
        case REDIS_REPLY_STATUS:
            return .status(String(decoding: text(), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            return .error(String(decoding: text(), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            return .integer(Int(truncatingIfNeeded: value.integer))
        case REDIS_REPLY_NIL:
            return .null
        case REDIS_REPLY_ARRAY:
            var elements: [RedisReply] = []
            elements.reserveCapacity(value.elements)
            for index in 0..<value.elements {
                guard let element = value.element?[index] else {
                    throw RedisError(.protocolError, "array reply with a missing element")
                }
                elements.append(try convert(element))
            }
            return .array(elements)
        default:
            throw RedisError(.protocolError, "unknown reply type \(value.type)")
        }
    }
}

/// hiredis 0.14 writes with write(2), which raises SIGPIPE when the server has gone away;
/// the default action would kill the whole process instead of letting us see EPIPE. Ignore
/// it once, unless the host program installed its own handler (then restore that).
private let ignoreSIGPIPE: Void = {
    if let previous = signal(SIGPIPE, SIG_IGN), unsafeBitCast(previous, to: Int.self) != -1 {
        signal(SIGPIPE, previous)
    }
}()

extension timeval {
    init(seconds: TimeInterval) {
        let whole = seconds.rounded(.down)
        self.init(tv_sec: numericCast(Int(whole)), tv_usec: numericCast(Int((seconds - whole) * 1_000_000)))
    }
}
