/// Parses tar bytes (pure, no I/O); checksum verified; throws on truncation or bad headers.
public enum TarReader {
    static let blockSize = 512

    /// All entries in archive order. Metadata headers (GNU 'L'/'K', pax 'x'/'g') are folded into the entry they
    /// describe and not returned. Reading stops at the first all-zero block (the end-of-archive marker).
    public static func entries(in bytes: [UInt8]) throws(ArtifactError) -> [TarEntry] {
        var entries: [TarEntry] = []
        var offset = 0
        // Overrides collected from metadata headers, applied to the next real entry.
        var longName: String?
        var longLink: String?
        var pax: [String: String] = [:]

        while true {
            guard offset + blockSize <= bytes.count else {
                throw ArtifactError("tar archive is truncated: expected a header at byte \(offset) but the data ends at \(bytes.count); the download or file is incomplete")
            }
            let header = bytes[offset..<(offset + blockSize)]
            if header.allSatisfy({ $0 == 0 }) {
                if longName != nil || longLink != nil || !pax.isEmpty {
                    throw ArtifactError("tar archive ends right after a long-name or pax header at byte \(offset); the archive is malformed")
                }
                return entries
            }
            try verifyChecksum(header, at: offset)

            let typeFlag = header[header.startIndex + 156]
            var size = try numericField(header, 124, 12, name: "size", at: offset)
            if let paxSize = pax["size"] {
                guard let value = Int(paxSize), value >= 0 else {
                    throw ArtifactError("tar header at byte \(offset) has an invalid pax size \"\(paxSize)\"")
                }
                size = value
            }
            let dataOffset = offset + blockSize
            let (padded, overflow) = size.addingReportingOverflow((blockSize - size % blockSize) % blockSize)
            guard !overflow, padded <= bytes.count - dataOffset else {
                throw ArtifactError("tar archive is truncated: the entry at byte \(offset) declares \(size) bytes of data but the archive ends first; the download or file is incomplete")
            }
            let next = dataOffset + padded
            let data = bytes[dataOffset..<(dataOffset + size)]

            switch typeFlag {
            case UInt8(ascii: "L"):
                longName = try cString(data, what: "GNU long name", at: offset)
            case UInt8(ascii: "K"):
                longLink = try cString(data, what: "GNU long link name", at: offset)
            case UInt8(ascii: "x"):
                pax.merge(try paxRecords(data, at: offset)) { _, new in new }
            case UInt8(ascii: "g"):
                // Global pax headers set archive-wide defaults (usually a comment); nothing in them matters here.
                break
            default:
                var path = try headerPath(header, at: offset)
                var link = try text(header, 157, 100, what: "link name", at: offset)
                if let value = longName { path = value }
                if let value = longLink { link = value }
                if let value = pax["path"] { path = value }
                if let value = pax["linkpath"] { link = value }
                let mode = UInt32(truncatingIfNeeded: try numericField(header, 100, 8, name: "mode", at: offset))
                let kind: TarEntry.Kind
                switch typeFlag {
                case UInt8(ascii: "0"), 0, UInt8(ascii: "7"):
                    // Pre-POSIX archives mark directories only by a trailing slash.
                    kind = path.hasSuffix("/") && size == 0 ? .directory : .file
                case UInt8(ascii: "5"): kind = .directory
                case UInt8(ascii: "2"): kind = .symlink(target: link)
                case UInt8(ascii: "1"): kind = .hardlink(target: link)
                default: kind = .other(typeFlag)
                }
                entries.append(TarEntry(path: path, kind: kind, mode: mode, size: size, dataOffset: dataOffset))
                longName = nil
                longLink = nil
                pax = [:]
            }
            offset = next
        }
    }

    /// The header checksum is the byte sum with the checksum field read as spaces; some old writers summed signed bytes.
    private static func verifyChecksum(_ header: ArraySlice<UInt8>, at offset: Int) throws(ArtifactError) {
        let stored = try numericField(header, 148, 8, name: "checksum", at: offset)
        var unsigned = 0
        var signed = 0
        for (index, byte) in header.enumerated() {
            let value = (index >= 148 && index < 156) ? UInt8(ascii: " ") : byte
            unsigned += Int(value)
            signed += Int(Int8(bitPattern: value))
        }
        guard stored == unsigned || stored == signed else {
            throw ArtifactError("tar header at byte \(offset) has a bad checksum (stored \(stored), computed \(unsigned)); the archive is corrupt or not a tar file")
        }
    }

    /// ustar splits long names into prefix + "/" + name; GNU archives use that area for other fields.
    private static func headerPath(_ header: ArraySlice<UInt8>, at offset: Int) throws(ArtifactError) -> String {
        let name = try text(header, 0, 100, what: "name", at: offset)
        let base = header.startIndex
        let isPOSIX = header[(base + 257)..<(base + 263)].elementsEqual(Array("ustar\0".utf8))
        guard isPOSIX else { return name }
        let prefix = try text(header, 345, 155, what: "name prefix", at: offset)
        return prefix.isEmpty ? name : prefix + "/" + name
    }

    /// A NUL-terminated (or field-filling) UTF-8 string field.
    private static func text(_ header: ArraySlice<UInt8>, _ start: Int, _ length: Int, what: String, at offset: Int) throws(ArtifactError) -> String {
        let field = header[(header.startIndex + start)..<(header.startIndex + start + length)]
        return try cString(field, what: what, at: offset)
    }

    /// Bytes up to the first NUL, which must be valid UTF-8 (a repaired name would not be the name in the archive).
    private static func cString(_ bytes: ArraySlice<UInt8>, what: String, at offset: Int) throws(ArtifactError) -> String {
        let end = bytes.firstIndex(of: 0) ?? bytes.endIndex
        return try utf8(bytes[bytes.startIndex..<end], what: what, at: offset)
    }

    private static func utf8(_ bytes: ArraySlice<UInt8>, what: String, at offset: Int) throws(ArtifactError) -> String {
        let value = String(decoding: bytes, as: UTF8.self)
        guard value.utf8.elementsEqual(bytes) else {
            throw ArtifactError("tar header at byte \(offset) has a \(what) that is not valid UTF-8 (\"\(value)\"); re-create the archive with UTF-8 names")
        }
        return value
    }

    /// Octal (NUL/space padded) or, when the top bit is set, GNU base-256 big-endian.
    private static func numericField(_ header: ArraySlice<UInt8>, _ start: Int, _ length: Int, name: String, at offset: Int) throws(ArtifactError) -> Int {
        let field = header[(header.startIndex + start)..<(header.startIndex + start + length)]
        let invalid = ArtifactError("tar header at byte \(offset) has an invalid \(name) field; the archive is corrupt or not a tar file")
        if let first = field.first, first & 0x80 != 0 {
            guard first == 0x80 else { throw invalid } // 0xff would be negative
            var value = 0
            for byte in field.dropFirst() {
                let (shifted, overflow) = value.multipliedReportingOverflow(by: 256)
                guard !overflow else { throw invalid }
                value = shifted | Int(byte)
            }
            return value
        }
        var value = 0
        var seenDigit = false
        var ended = false
        for byte in field {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                guard !ended else { throw invalid }
                let (shifted, overflow) = value.multipliedReportingOverflow(by: 8)
                guard !overflow else { throw invalid }
                value = shifted + Int(byte - UInt8(ascii: "0"))
                seenDigit = true
            case UInt8(ascii: " "), 0:
                // Leading padding is allowed; after digits it terminates the number.
                if seenDigit { ended = true }
            default:
                throw invalid
            }
        }
        return value
    }

    /// pax extended header records: "<length> <key>=<value>\n", where length counts the whole record.
    private static func paxRecords(_ data: ArraySlice<UInt8>, at offset: Int) throws(ArtifactError) -> [String: String] {
        var records: [String: String] = [:]
        var cursor = data.startIndex
        let invalid = ArtifactError("pax header at byte \(offset) has a malformed record; the archive is corrupt")
        while cursor < data.endIndex {
            // Some writers pad the data with NULs.
            if data[cursor] == 0 { break }
            guard let space = data[cursor...].firstIndex(of: UInt8(ascii: " ")) else { throw invalid }
            var length = 0
            for byte in data[cursor..<space] {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), length < data.count else { throw invalid }
                length = length * 10 + Int(byte - UInt8(ascii: "0"))
            }
            let end = cursor + length
            guard length > 0, end <= data.endIndex, end > space + 1, data[end - 1] == UInt8(ascii: "\n") else { throw invalid }
            let record = data[(space + 1)..<(end - 1)]
            guard let equals = record.firstIndex(of: UInt8(ascii: "=")) else { throw invalid }
            let key = try utf8(record[record.startIndex..<equals], what: "pax key", at: offset)
            let value = try utf8(record[(equals + 1)..<record.endIndex], what: "pax \(key) value", at: offset)
            records[key] = value
            cursor = end
        }
        return records
    }
}
