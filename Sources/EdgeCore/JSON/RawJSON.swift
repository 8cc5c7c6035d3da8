/// One JSON value's text, known to be valid and on one line: a function's result passed on as
/// it came, never parsed into values and written again.
public struct RawJSON: Sendable, Equatable, CustomStringConvertible {
    public let bytes: [UInt8]

    /// Bytes the caller has checked (`JSONScanner`) to be one JSON value with no line break.
    public init(validated bytes: [UInt8]) {
        self.bytes = bytes
    }

    public init(_ value: JSONValue) {
        bytes = JSONWriter.serialize(value)
    }

    public static let null = RawJSON(.null)

    public var description: String { String(decoding: bytes, as: UTF8.self) }
}
