/// Where a tar stream's bytes come from: an archive file (ArchiveStream) or bytes in memory.
protocol TarByteSource: AnyObject {
    /// Bytes handed out so far.
    var position: Int { get }
    /// Up to `buffer.count` bytes; 0 at the end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(ArtifactError) -> Int
}

extension TarByteSource {
    /// Fills `buffer`, or throws naming what was being read when the stream ends first.
    func readExactly(_ buffer: UnsafeMutableRawBufferPointer, what: @autoclosure () -> String) throws(ArtifactError) {
        var filled = 0
        while filled < buffer.count {
            let count = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
            if count == 0 {
                throw ArtifactError("tar archive is truncated: it ends at byte \(position) inside \(what()); the download or file is incomplete")
            }
            filled += count
        }
    }
}

/// Tar bytes held in memory.
final class TarBytes: TarByteSource {
    private let bytes: [UInt8]
    private(set) var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(ArtifactError) -> Int {
        let count = min(buffer.count, bytes.count - position)
        bytes.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[position..<(position + count)])) }
        position += count
        return count
    }
}

/// Reads a tar stream entry by entry, in bounded memory: one header at a time, each entry's data
/// copied out or skipped in 64 KiB pieces. Checksums verified; truncation and bad headers throw.
/// Metadata headers (GNU 'L'/'K', pax 'x'/'g') are folded into the entry they describe and not
/// returned; their data is held (at most 1 MiB). Reading stops at the first all-zero block (the
/// end-of-archive marker).
final class TarStreamReader {
    static let blockSize = 512
    static let maxMetadataBytes = 1 << 20
    private let source: TarByteSource
    /// Data and padding of the current entry not read yet.
    private var unreadData = 0
    private var unreadPadding = 0
    private let header = UnsafeMutableRawBufferPointer.allocate(byteCount: TarStreamReader.blockSize, alignment: 16)
    private let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)

    init(_ source: TarByteSource) { self.source = source }

    deinit {
        header.deallocate()
        chunk.deallocate()
    }

    /// The next entry (the previous one's unread data skipped), or nil at the end marker.
    func next() throws(ArtifactError) -> TarEntry? {
        try skipData()
        var longName: String?
        var longLink: String?
        var pax: [String: String] = [:]
        while true {
            let offset = source.position
            try source.readExactly(header, what: "the header expected at byte \(offset)")
            let block = ArraySlice(UnsafeRawBufferPointer(header))
            if block.allSatisfy({ $0 == 0 }) {
                if longName != nil || longLink != nil || !pax.isEmpty {
                    throw ArtifactError("tar archive ends right after a long-name or pax header at byte \(offset); the archive is malformed")
                }
                return nil
            }
            try TarReader.verifyChecksum(block, at: offset)
            let typeFlag = block[block.startIndex + 156]
            var size = try TarReader.numericField(block, 124, 12, name: "size", at: offset)
            if let paxSize = pax["size"] {
                guard let value = Int(paxSize), value >= 0 else {
                    throw ArtifactError("tar header at byte \(offset) has an invalid pax size \"\(paxSize)\"")
                }
                size = value
            }
            unreadData = size
            unreadPadding = (Self.blockSize - size % Self.blockSize) % Self.blockSize
            switch typeFlag {
            case UInt8(ascii: "L"):
                longName = try TarReader.cString(try metadata(size, at: offset)[...], what: "GNU long name", at: offset)
            case UInt8(ascii: "K"):
                longLink = try TarReader.cString(try metadata(size, at: offset)[...], what: "GNU long link name", at: offset)
            case UInt8(ascii: "x"):
                pax.merge(try TarReader.paxRecords(try metadata(size, at: offset)[...], at: offset)) { _, new in new }
            case UInt8(ascii: "g"):
                // Global pax headers set archive-wide defaults (usually a comment); nothing in them matters here.
                try skipData()
            default:
                var path = try TarReader.headerPath(block, at: offset)
                var link = try TarReader.text(block, 157, 100, what: "link name", at: offset)
                if let value = longName { path = value }
                if let value = longLink { link = value }
                if let value = pax["path"] { path = value }
                if let value = pax["linkpath"] { link = value }
                let mode = UInt32(truncatingIfNeeded: try TarReader.numericField(block, 100, 8, name: "mode", at: offset))
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
                return TarEntry(path: path, kind: kind, mode: mode, size: size, dataOffset: source.position)
            }
        }
    }

    /// Hands the current entry's data to `sink` in pieces, then skips its padding.
    func copyData(_ sink: (UnsafeRawBufferPointer) throws(ArtifactError) -> Void) throws(ArtifactError) {
        while unreadData > 0 {
            let piece = UnsafeMutableRawBufferPointer(rebasing: chunk[0..<min(chunk.count, unreadData)])
            try source.readExactly(piece, what: "the data of the entry ending at byte \(source.position + unreadData)")
            unreadData -= piece.count
            try sink(UnsafeRawBufferPointer(piece))
        }
        try skipData()
    }

    /// Skips what is left of the current entry's data and padding.
    func skipData() throws(ArtifactError) {
        let left = unreadData + unreadPadding
        unreadData = 0
        unreadPadding = 0
        var remaining = left
        while remaining > 0 {
            let piece = UnsafeMutableRawBufferPointer(rebasing: chunk[0..<min(chunk.count, remaining)])
            try source.readExactly(piece, what: "an entry's data (\(left) bytes from byte \(source.position - (left - remaining)))")
            remaining -= piece.count
        }
    }

    private func metadata(_ size: Int, at offset: Int) throws(ArtifactError) -> [UInt8] {
        guard size <= Self.maxMetadataBytes else {
            throw ArtifactError("tar header at byte \(offset) carries \(size) bytes of metadata, more than \(Self.maxMetadataBytes); the archive is malformed")
        }
        var data: [UInt8] = []
        try copyData { (piece) throws(ArtifactError) in data.append(contentsOf: piece) }
        return data
    }
}

/// Tar header fields (pure, no I/O).
public enum TarReader {
    static let blockSize = 512

    /// All entries of tar bytes in archive order (see TarStreamReader).
    public static func entries(in bytes: [UInt8]) throws(ArtifactError) -> [TarEntry] {
        let reader = TarStreamReader(TarBytes(bytes))
        var entries: [TarEntry] = []
        while let entry = try reader.next() { entries.append(entry) }
        return entries
    }

    /// The header checksum is the byte sum with the checksum field read as spaces; some old writers summed signed bytes.
    static func verifyChecksum(_ header: ArraySlice<UInt8>, at offset: Int) throws(ArtifactError) {
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
    static func headerPath(_ header: ArraySlice<UInt8>, at offset: Int) throws(ArtifactError) -> String {
        let name = try text(header, 0, 100, what: "name", at: offset)
        let base = header.startIndex
        let isPOSIX = header[(base + 257)..<(base + 263)].elementsEqual(Array("ustar\0".utf8))
        guard isPOSIX else { return name }
        let prefix = try text(header, 345, 155, what: "name prefix", at: offset)
        return prefix.isEmpty ? name : prefix + "/" + name
    }

    /// A NUL-terminated (or field-filling) UTF-8 string field.
    static func text(_ header: ArraySlice<UInt8>, _ start: Int, _ length: Int, what: String, at offset: Int) throws(ArtifactError) -> String {
        let field = header[(header.startIndex + start)..<(header.startIndex + start + length)]
        return try cString(field, what: what, at: offset)
    }

    /// Bytes up to the first NUL, which must be valid UTF-8 (a repaired name would not be the name in the archive).
    static func cString(_ bytes: ArraySlice<UInt8>, what: String, at offset: Int) throws(ArtifactError) -> String {
        let end = bytes.firstIndex(of: 0) ?? bytes.endIndex
        return try utf8(bytes[bytes.startIndex..<end], what: what, at: offset)
    }

    static func utf8(_ bytes: ArraySlice<UInt8>, what: String, at offset: Int) throws(ArtifactError) -> String {
        let value = String(decoding: bytes, as: UTF8.self)
        guard value.utf8.elementsEqual(bytes) else {
            throw ArtifactError("tar header at byte \(offset) has a \(what) that is not valid UTF-8 (\"\(value)\"); re-create the archive with UTF-8 names")
        }
        return value
    }

    /// Octal (NUL/space padded) or, when the top bit is set, GNU base-256 big-endian.
    static func numericField(_ header: ArraySlice<UInt8>, _ start: Int, _ length: Int, name: String, at offset: Int) throws(ArtifactError) -> Int {
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
    static func paxRecords(_ data: ArraySlice<UInt8>, at offset: Int) throws(ArtifactError) -> [String: String] {
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
