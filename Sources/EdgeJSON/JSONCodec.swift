import CJSONC
import EdgeCore

/// Why bytes are not an acceptable JSON document.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case invalid
        case tooDeep
        case tooLarge
    }

    public var kind: Kind
    public var message: String

    public var description: String { message }
}

/// The agent's JSON reader and writer, over json-c.
public enum JSONCodec {
    /// Parses one JSON document; trailing white space is allowed, anything else after it is not.
    public static func parse(_ bytes: [UInt8], maxDepth: Int = 64, maxBytes: Int = 16 << 20,
                             uniqueKeys: Bool = false) -> Result<JSONValue, JSONParseError> {
        if bytes.count > maxBytes {
            return .failure(.init(kind: .tooLarge, message: "the document is \(bytes.count) bytes; at most \(maxBytes) are accepted"))
        }
        // json-c lets through what JSON forbids (single quotes, NaN, control characters in
        // strings, invalid UTF-8) and clamps wide integers: the scanner's strict pass comes first.
        if let problem = JSONScanner.problem(in: bytes, maxDepth: maxDepth, integersIn64Bits: true, uniqueKeys: uniqueKeys) {
            return .failure(.init(kind: problem.tooDeep ? .tooDeep : .invalid, message: problem.description))
        }
        guard let tokener = json_tokener_new_ex(Int32(maxDepth)) else {
            return .failure(.init(kind: .invalid, message: "out of memory"))
        }
        defer { json_tokener_free(tokener) }
        json_tokener_set_flags(tokener, Int32(JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8))
        var parsed: OpaquePointer? = bytes.withUnsafeBufferPointer { buffer in
            buffer.baseAddress.map { base in
                base.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                    json_tokener_parse_ex(tokener, $0, Int32(buffer.count))
                }
            } ?? nil
        }
        var status = json_tokener_get_error(tokener)
        var end = Int(json_tokener_get_parse_end(tokener))
        // A number or literal at the very end leaves json-c waiting for more: one space ends it.
        if status == json_tokener_continue, parsed == nil, !bytes.isEmpty {
            parsed = json_tokener_parse_ex(tokener, " ", 1)
            status = json_tokener_get_error(tokener)
            end = bytes.count
        }
        if status == json_tokener_error_depth {
            return .failure(.init(kind: .tooDeep, message: "the document nests deeper than \(maxDepth) levels"))
        }
        // An empty or unfinished document leaves the tokener waiting for more.
        if status == json_tokener_continue || (bytes.isEmpty && parsed == nil) {
            return .failure(.init(kind: .invalid, message: "the document is empty or ends too early"))
        }
        guard status == json_tokener_success else {
            let reason = json_tokener_error_desc(status).map { String(cString: $0) } ?? "invalid JSON"
            let offset = json_tokener_get_parse_end(tokener)
            return .failure(.init(kind: .invalid, message: "invalid JSON at byte \(offset): \(reason)"))
        }
        defer { if let parsed { json_object_put(parsed) } }
        if bytes[min(end, bytes.count)...].contains(where: { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }) {
            return .failure(.init(kind: .invalid, message: "invalid JSON: unexpected data after the document at byte \(end)"))
        }
        return .success(value(of: parsed))
    }

    /// Parses text; a convenience for tests and configuration.
    public static func parse(_ text: String, maxDepth: Int = 64) -> Result<JSONValue, JSONParseError> {
        parse(Array(text.utf8), maxDepth: maxDepth)
    }

    /// Serializes compactly, object keys sorted so output is stable (`JSONWriter`).
    public static func serialize(_ value: JSONValue) -> [UInt8] {
        JSONWriter.serialize(value)
    }

    public static func text(_ value: JSONValue) -> String {
        String(decoding: serialize(value), as: UTF8.self)
    }

    private static func value(of object: OpaquePointer?) -> JSONValue {
        guard let object else { return .null }
        switch json_object_get_type(object) {
        case json_type_null: return .null
        case json_type_boolean: return .bool(json_object_get_boolean(object) != 0)
        case json_type_int: return .int(json_object_get_int64(object))
        case json_type_double: return .double(json_object_get_double(object))
        case json_type_string:
            let length = Int(json_object_get_string_len(object))
            guard let raw = json_object_get_string(object) else { return .string("") }
            let text = raw.withMemoryRebound(to: UInt8.self, capacity: length) {
                String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
            }
            return .string(text)
        case json_type_array:
            let count = json_object_array_length(object)
            var items: [JSONValue] = []
            items.reserveCapacity(count)
            for index in 0..<count { items.append(value(of: json_object_array_get_idx(object, index))) }
            return .array(items)
        case json_type_object:
            var members: [String: JSONValue] = [:]
            var iterator = json_object_iter_begin(object)
            var end = json_object_iter_end(object)
            while json_object_iter_equal(&iterator, &end) == 0 {
                let name = String(cString: json_object_iter_peek_name(&iterator))
                members[name] = value(of: json_object_iter_peek_value(&iterator))
                json_object_iter_next(&iterator)
            }
            return .object(members)
        default:
            return .null
        }
    }
}
