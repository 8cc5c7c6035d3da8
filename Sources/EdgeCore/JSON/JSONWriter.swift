/// The agent's JSON writer: values straight into bytes, compact, object keys sorted so output is
/// stable. It writes what json-c wrote for the same values (strings escaped the same way, a
/// whole double below 1e15 as an integer, any other as Swift's shortest exact form), without
/// building a json-c tree first: every document the agent sends goes through here.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []

    public init(reservingCapacity capacity: Int = 0) {
        bytes.reserveCapacity(capacity)
    }

    /// `value` as JSON text.
    public static func serialize(_ value: JSONValue) -> [UInt8] {
        var writer = JSONWriter()
        writer.write(value)
        return writer.bytes
    }

    public mutating func write(_ value: JSONValue) {
        switch value {
        case .null: bytes.append(contentsOf: Self.null)
        case .bool(let flag): bytes.append(contentsOf: flag ? Self.true : Self.false)
        case .int(let number): write(number)
        case .double(let number): write(number)
        case .string(let text): write(text)
        case .array(let items):
            bytes.append(0x5B)
            for (index, item) in items.enumerated() {
                if index > 0 { bytes.append(0x2C) }
                write(item)
            }
            bytes.append(0x5D)
        case .object(let members):
            bytes.append(0x7B)
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { bytes.append(0x2C) }
                write(key)
                bytes.append(0x3A)
                write(members[key]!)
            }
            bytes.append(0x7D)
        }
    }

    public mutating func write(_ number: Int64) {
        var text = String(number)
        text.withUTF8 { bytes.append(contentsOf: $0) }
    }

    /// A non-finite number has no JSON form: it is written as null.
    public mutating func write(_ number: Double) {
        guard number.isFinite else {
            bytes.append(contentsOf: Self.null)
            return
        }
        if number == number.rounded(), abs(number) < 1e15 {
            write(Int64(number))
            return
        }
        var text = number.description
        text.withUTF8 { bytes.append(contentsOf: $0) }
    }

    /// A string, quoted: `"` and `\` escaped, control characters as `\n`, `\t`… or `\u00XX`; the
    /// rest as its UTF-8 bytes.
    public mutating func write(_ text: String) {
        var copy = text
        copy.withUTF8 { write(string: $0) }
    }

    public mutating func write(string utf8: UnsafeBufferPointer<UInt8>) {
        bytes.append(0x22)
        var plainFrom = 0
        for index in 0..<utf8.count {
            let byte = utf8[index]
            guard byte < 0x20 || byte == 0x22 || byte == 0x5C else { continue }
            if plainFrom < index { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[plainFrom..<index])) }
            plainFrom = index + 1
            bytes.append(0x5C)
            switch byte {
            case 0x22, 0x5C: bytes.append(byte)
            case 0x08: bytes.append(UInt8(ascii: "b"))
            case 0x09: bytes.append(UInt8(ascii: "t"))
            case 0x0A: bytes.append(UInt8(ascii: "n"))
            case 0x0C: bytes.append(UInt8(ascii: "f"))
            case 0x0D: bytes.append(UInt8(ascii: "r"))
            default:
                bytes.append(contentsOf: [UInt8(ascii: "u"), 0x30, 0x30, Self.hex[Int(byte >> 4)], Self.hex[Int(byte & 0xF)]])
            }
        }
        if plainFrom < utf8.count { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[plainFrom...])) }
        bytes.append(0x22)
    }

    /// Bytes that are JSON text already, as they are.
    public mutating func write(raw: some Collection<UInt8>) {
        bytes.append(contentsOf: raw)
    }

    // MARK: Objects member by member, in the order written

    /// One bit per open object (up to 64 deep): set once it has a member, so the next one needs a comma.
    private var hasMembers: UInt64 = 0
    private var openObjects = 0

    public mutating func beginObject() {
        bytes.append(0x7B)
        openObjects += 1
        hasMembers &= ~(1 << UInt64(openObjects - 1))
    }

    public mutating func endObject() {
        bytes.append(0x7D)
        openObjects -= 1
    }

    /// The key of the next member of the object begun last; its value is written next.
    public mutating func key(_ name: String) {
        let bit: UInt64 = 1 << UInt64(openObjects - 1)
        if hasMembers & bit != 0 { bytes.append(0x2C) }
        hasMembers |= bit
        write(name)
        bytes.append(0x3A)
    }

    private static let null = Array("null".utf8)
    private static let `true` = Array("true".utf8)
    private static let `false` = Array("false".utf8)
    private static let hex = Array("0123456789abcdef".utf8)
}
