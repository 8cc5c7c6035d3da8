/// Standard Base64 (RFC 4648) for binary payloads carried inside JSON.
public enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index + 2 < bytes.count {
            let chunk = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            for shift in [18, 12, 6, 0] { out.append(alphabet[Int(chunk >> UInt32(shift) & 63)]) }
            index += 3
        }
        let rest = bytes.count - index
        if rest > 0 {
            var chunk = UInt32(bytes[index]) << 16
            if rest == 2 { chunk |= UInt32(bytes[index + 1]) << 8 }
            out.append(alphabet[Int(chunk >> 18 & 63)])
            out.append(alphabet[Int(chunk >> 12 & 63)])
            out.append(rest == 2 ? alphabet[Int(chunk >> 6 & 63)] : UInt8(ascii: "="))
            out.append(UInt8(ascii: "="))
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Why a text is not base64: the first bad character's position, or a bad length.
    public enum DecodingProblem: Error, Sendable, Equatable, CustomStringConvertible {
        case invalidCharacter(position: Int)
        case invalidLength

        public var description: String {
            switch self {
            case .invalidCharacter(let position): return "has an invalid base64 character at position \(position)"
            case .invalidLength: return "has base64 data of invalid length"
            }
        }
    }

    /// Decodes the standard or the URL-safe alphabet, padding optional; whitespace is not allowed.
    public static func decode(_ text: some Collection<UInt8>) -> Result<[UInt8], DecodingProblem> {
        let text = Array(text)
        var end = text.count
        while end > 0 && text[end - 1] == UInt8(ascii: "=") { end -= 1 }
        var output: [UInt8] = []
        output.reserveCapacity(end * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for index in 0..<end {
            let char = text[index]
            let value: UInt32
            switch char {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = UInt32(char - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = UInt32(char - UInt8(ascii: "a")) + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = UInt32(char - UInt8(ascii: "0")) + 52
            case UInt8(ascii: "+"), UInt8(ascii: "-"): value = 62
            case UInt8(ascii: "/"), UInt8(ascii: "_"): value = 63
            default: return .failure(.invalidCharacter(position: index))
            }
            accumulator = (accumulator << 6) | value
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        // 1 leftover character (6 bits) cannot encode a byte; more than 2 '=' is not base64 either.
        if end % 4 == 1 || text.count - end > 2 { return .failure(.invalidLength) }
        return .success(output)
    }

    public static func decode(_ text: String) -> Result<[UInt8], DecodingProblem> { decode(text.utf8) }
}
