/// A `HOST:PORT` to serve on (`metrics_address`, `exporter --listen`).
///
/// Why its own type: the setting is validated before anything starts, with the same
/// parsing the server uses, so a typo exits 2 instead of failing after the run began.
public struct ListenAddress: Sendable, Equatable {
    /// An IPv4 address (`0.0.0.0` for every interface); `localhost` reads as `127.0.0.1`.
    public var host: String
    public var port: UInt16

    /// `HOST:PORT` or `:PORT` (every interface); nil for anything else.
    public init?(parsing text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else {
            return nil
        }
        let host = String(text[..<colon])
        switch host {
        case "", "*": self.host = "0.0.0.0"
        case "localhost": self.host = "127.0.0.1"
        default:
            let parts = host.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 4, parts.allSatisfy({ UInt8($0) != nil }) else { return nil }
            self.host = host
        }
        self.port = port
    }
}
