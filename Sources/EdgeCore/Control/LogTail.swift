/// A line of a function's log, as the agent writes it: `2026-12-05T15:00:00.123Z ` (when the
/// agent read it from the function's output, UTC) and then what the function printed.
public enum LogLine {
    /// Bytes in a stamp, `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    public static let stampLength = 24

    /// Whether `text` is a stamp: ISO 8601 UTC with milliseconds, so that stamps compare as text.
    public static func isTimestamp(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.count == stampLength && isStamp(bytes[...])
    }

    /// The line's stamp, if it starts with one followed by a space.
    public static func stamp(of line: String) -> String? {
        let bytes = Array(line.utf8.prefix(stampLength + 1))
        guard bytes.count == stampLength + 1, bytes[stampLength] == UInt8(ascii: " "), isStamp(bytes[0..<stampLength]) else { return nil }
        return String(decoding: bytes[0..<stampLength], as: UTF8.self)
    }

    private static func isStamp(_ bytes: ArraySlice<UInt8>) -> Bool {
        // Digits everywhere but these places.
        let fixed: [Int: UInt8] = [4: UInt8(ascii: "-"), 7: UInt8(ascii: "-"), 10: UInt8(ascii: "T"), 13: UInt8(ascii: ":"),
                                   16: UInt8(ascii: ":"), 19: UInt8(ascii: "."), 23: UInt8(ascii: "Z")]
        for (offset, byte) in bytes.enumerated() {
            if let wanted = fixed[offset] {
                guard byte == wanted else { return false }
            } else if !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
                return false
            }
        }
        return true
    }
}

/// Where a `logs` answer stopped, so the next request (`edgectl logs --follow`) goes on from
/// there: a byte offset in the log file with that inode (which rotation renames to `.1`), or a
/// line number of the agent's own recent lines. Its text is opaque to clients.
public enum LogCursor: Sendable, Equatable {
    case file(inode: UInt64, offset: Int)
    /// A line number of the agent's lines since it started at `boot` (its start time): numbers
    /// begin again when it restarts.
    case memory(boot: Int64, sequence: Int)

    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        switch (parts.first, parts.count) {
        case ("f", 3):
            guard let inode = UInt64(parts[1]), let offset = Int(parts[2]), offset >= 0 else { return nil }
            self = .file(inode: inode, offset: offset)
        case ("m", 3):
            guard let boot = Int64(parts[1]), let sequence = Int(parts[2]), sequence >= 0 else { return nil }
            self = .memory(boot: boot, sequence: sequence)
        default:
            return nil
        }
    }

    public var text: String {
        switch self {
        case .file(let inode, let offset): return "f-\(inode)-\(offset)"
        case .memory(let boot, let sequence): return "m-\(boot)-\(sequence)"
        }
    }
}

/// Picking lines out of what was read of a log: pure, so the shell only reads bytes.
public enum LogTail {
    /// The most a `logs` answer carries, in bytes of lines: well inside a broker's message size.
    public static let maxAnswerBytes = 64 * 1024
    /// The most read from the end of a log for a request without a cursor.
    public static let maxTailBytes = 256 * 1024
    /// A longer line is cut there (and says how much more it had), so one line cannot fill an answer.
    public static let maxLineBytes = 16 * 1024

    /// The lines in `bytes`, split at newlines (which are not kept; invalid UTF-8 is replaced).
    /// `dropFirst` drops a first line that began before these bytes (a read from the middle of
    /// a file). Bytes after the last newline are not a line yet unless `takeUnfinished` (a read
    /// that stopped at its limit). Lines stop before the one that would take the answer past
    /// `maxEncodedBytes` (`encodedSize`; `full` then). `consumed` counts the bytes the lines came from.
    public static func split(_ bytes: ArraySlice<UInt8>, dropFirst: Bool = false, takeUnfinished: Bool = false,
                             maxEncodedBytes: Int = .max) -> (lines: [String], consumed: Int, full: Bool) {
        var lines: [String] = []
        var encoded = 0
        var start = bytes.startIndex
        var skipping = dropFirst
        var index = bytes.startIndex
        /// Takes the line that ends before `end`; false when it does not fit.
        func take(upTo end: Int) -> Bool {
            let text = line(bytes[start..<end])
            let size = encodedSize(text)
            if encoded + size > maxEncodedBytes && !lines.isEmpty { return false }
            encoded += size
            lines.append(text)
            return true
        }
        while index < bytes.endIndex {
            if bytes[index] == UInt8(ascii: "\n") {
                if !skipping && !take(upTo: index) { return (lines, start - bytes.startIndex, true) }
                skipping = false
                start = index + 1
            }
            index += 1
        }
        if takeUnfinished && start < bytes.endIndex && !skipping {
            guard take(upTo: bytes.endIndex) else { return (lines, start - bytes.startIndex, true) }
            start = bytes.endIndex
        }
        return (lines, start - bytes.startIndex, false)
    }

    private static func line(_ bytes: ArraySlice<UInt8>) -> String {
        guard bytes.count > maxLineBytes else { return String(decoding: bytes, as: UTF8.self) }
        let kept = String(decoding: bytes.prefix(maxLineBytes), as: UTF8.self)
        return "\(kept) … (\(bytes.count - maxLineBytes) bytes more)"
    }

    /// The newest `last` lines, from the first stamped at or after `since` on (a line without a
    /// stamp, such as a traceback's, goes with the stamped line before it).
    public static func select(_ lines: [String], last: Int, since: String?) -> [String] {
        var chosen = lines[...]
        if let since {
            let first = lines.firstIndex { line in LogLine.stamp(of: line).map { $0 >= since } ?? false }
            chosen = first.map { lines[$0...] } ?? []
        }
        return Array(chosen.suffix(max(0, last)))
    }

    /// The newest of `lines` that fit in `maxBytes` as JSON strings; `dropped` says how many older ones did not.
    public static func fit(_ lines: [String], maxBytes: Int = maxAnswerBytes) -> (lines: [String], dropped: Int) {
        var total = 0
        var kept = 0
        for line in lines.reversed() {
            total += encodedSize(line)
            if total > maxBytes && kept > 0 { break }
            kept += 1
        }
        return (Array(lines.suffix(kept)), lines.count - kept)
    }

    /// The oldest of `lines` that fit in `maxBytes` as JSON strings (a reader that follows must
    /// not skip any: the rest come with the next answer).
    public static func fitOldest(_ lines: [String], maxBytes: Int = maxAnswerBytes) -> [String] {
        var total = 0
        var count = 0
        for line in lines {
            total += encodedSize(line)
            if total > maxBytes && count > 0 { break }
            count += 1
        }
        return Array(lines.prefix(count))
    }

    /// The bytes `line` takes in an answer: as a JSON string, quoted, with its escapes (a control
    /// character takes six), and a separator.
    public static func encodedSize(_ line: String) -> Int {
        var size = 3
        for byte in line.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): size += 2
            case 0..<0x20: size += 6
            default: size += 1
            }
        }
        return size
    }
}
