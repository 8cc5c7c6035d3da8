import EdgeCore

/// RFC 2397 `data:[<mediatype>][;base64],<data>` decoding.
enum DataURI {
    /// The bytes carried by `uri`, which must start with "data:" (any case).
    static func decode(_ uri: String, maxBytes: Int) throws(ArtifactError) -> [UInt8] {
        let body = uri.utf8.dropFirst(5)
        guard let comma = body.firstIndex(of: UInt8(ascii: ",")) else {
            throw ArtifactError("data URI \(URIText.display(uri)) has no comma; the form is data:[<mediatype>][;base64],<data>")
        }
        let header = String(decoding: body[body.startIndex..<comma], as: UTF8.self)
        let isBase64 = header.split(separator: ";").last.map { $0.lowercased() == "base64" } ?? false
        let payload = try URIText.percentDecoded(body[body.index(after: comma)...], in: uri)
        let bytes = isBase64 ? try base64Decoded(payload, in: uri) : payload
        if bytes.count > maxBytes {
            throw ArtifactError("data URI \(URIText.display(uri)) holds \(bytes.count) bytes, more than the limit of \(maxBytes)")
        }
        return bytes
    }

    /// Standard or URL-safe alphabet, padding optional; whitespace is not allowed.
    static func base64Decoded(_ text: [UInt8], in uri: String) throws(ArtifactError) -> [UInt8] {
        switch Base64.decode(text) {
        case .success(let bytes): return bytes
        case .failure(.invalidCharacter(let position)):
            throw ArtifactError("data URI \(URIText.display(uri)) has an invalid base64 character at position \(position) of its data; fix the encoding")
        case .failure(.invalidLength):
            throw ArtifactError("data URI \(URIText.display(uri)) has base64 data of invalid length; fix the encoding")
        }
    }
}

/// Small URI text helpers shared by the fetchers.
enum URIText {
    /// The URI for messages, shortened so a large data: URI doesn't flood logs.
    static func display(_ uri: String) -> String {
        let limit = 120
        if uri.utf8.count <= limit { return uri }
        return String(decoding: uri.utf8.prefix(limit), as: UTF8.self) + "..."
    }

    /// Decodes %XX escapes; a malformed escape is an error naming the URI.
    static func percentDecoded(_ text: Substring.UTF8View.SubSequence, in uri: String) throws(ArtifactError) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(text.count)
        var iterator = text.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                output.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                throw ArtifactError("URI \(display(uri)) has a malformed percent escape; write '%' as %25")
            }
            output.append(high << 4 | low)
        }
        return output
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
