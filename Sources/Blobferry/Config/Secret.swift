/// A credential that must never reach a log line, an error or status output.
///
/// Printing, interpolating or dumping a `Secret` shows `***`; only the code that signs
/// requests reads `exposedValue`.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public let exposedValue: String
    public init(_ value: String) { exposedValue = value }
    public var description: String { "***" }
    public var debugDescription: String { "***" }
}
