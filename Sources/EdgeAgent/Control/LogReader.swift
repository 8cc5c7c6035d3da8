#if canImport(Glibc)
import Glibc
#endif
import EdgeCore
import EdgePOSIX

/// Reads what a `logs` control request asks for: the newest lines of a function's log (the file
/// and the `.1` that rotation left), or the lines after a cursor, within the log's own cap and
/// `LogTail`'s bounds; or the agent's own recent lines. The choice of lines is `LogTail`'s.
enum LogReader {
    /// A function's log at `path`.
    static func read(path: String, _ request: ControlRequest) -> Result<JSONValue, ControlError> {
        do {
            guard case .file(let inode, let offset)? = request.cursor.flatMap(LogCursor.init) else { return .success(try tail(path, request)) }
            return .success(try follow(path, inode: inode, offset: offset, since: request.since))
        } catch {
            return .failure(.failed("cannot read \(path): \(error.description)"))
        }
    }

    /// The agent's own lines (`RecentLines`) since it started at `boot`.
    static func read(_ recent: RecentLines?, _ request: ControlRequest, boot: Int64) -> Result<JSONValue, ControlError> {
        guard let recent else { return .failure(.failed("this agent keeps no log lines in memory")) }
        if case .memory(let since, let sequence)? = request.cursor.flatMap(LogCursor.init) {
            // A cursor from before a restart: its numbers mean nothing now; what is kept comes, as a gap.
            let restarted = since != boot
            let found = recent.lines(after: restarted ? 0 : sequence)
            let taken = LogTail.fitOldest(found.lines)
            let next = found.next - (found.lines.count - taken.count)
            return .success(answer(taken, cursor: .memory(boot: boot, sequence: next), more: taken.count < found.lines.count,
                                   gap: found.gap || restarted || sequence > found.next))
        }
        let found = recent.lines(after: nil)
        let chosen = LogTail.fit(LogTail.select(found.lines, last: request.lines, since: request.since))
        return .success(answer(chosen.lines, cursor: .memory(boot: boot, sequence: found.next), more: false, gap: false, dropped: chosen.dropped))
    }

    // MARK: Files

    private static func tail(_ path: String, _ request: ControlRequest) throws(SystemError) -> JSONValue {
        guard let current = try readIfThere(path, fromEnd: LogTail.maxTailBytes) else {
            return answer([], cursor: .file(inode: 0, offset: 0), more: false, gap: false)
        }
        var bytes = current.bytes
        var startsInside = current.start > 0
        var olderCount = 0
        if !startsInside, current.bytes.count < LogTail.maxTailBytes,
           let older = try readIfThere("\(path).1", fromEnd: LogTail.maxTailBytes - current.bytes.count) {
            bytes = older.bytes + bytes
            olderCount = older.bytes.count
            startsInside = older.start > 0
        }
        let split = LogTail.split(bytes[...], dropFirst: startsInside)
        // Where the next read goes on: after the last complete line, in the current file.
        let offset = current.start + max(0, split.consumed - olderCount)
        let chosen = LogTail.fit(LogTail.select(split.lines, last: request.lines, since: request.since))
        return answer(chosen.lines, cursor: .file(inode: current.status.inode, offset: offset), more: false, gap: false,
                      dropped: chosen.dropped)
    }

    private static func follow(_ path: String, inode: UInt64, offset: Int, since: String?) throws(SystemError) -> JSONValue {
        guard let current = try status(path) else {
            return answer([], cursor: .file(inode: inode, offset: offset), more: false, gap: false)
        }
        if current.inode == inode || inode == 0 {
            let start = inode == 0 || offset > current.size ? 0 : offset
            return try readOn(path, inode: current.inode, from: start, fileEnded: false, next: nil, since: since,
                              gap: inode != 0 && offset > current.size)
        }
        // Rotated since: finish the older file first, then go on at the start of the current one.
        if let older = try status("\(path).1"), older.inode == inode, offset <= older.size {
            return try readOn("\(path).1", inode: inode, from: offset, fileEnded: true, next: .file(inode: current.inode, offset: 0),
                              since: since, gap: false)
        }
        // Rotated more than once: what came between is gone. (Should the file system give a
        // removed log's inode number to the new file at once, that gap is not noticed: only a
        // reader that falls two rotations behind, 2 MiB of output, could meet it.)
        return try readOn(path, inode: current.inode, from: 0, fileEnded: false, next: nil, since: since, gap: true)
    }

    /// Lines from `start` on in one file, at most an answer's worth. A file that ended (rotated)
    /// gives its unfinished last line too, and then the cursor moves to `next`.
    private static func readOn(_ path: String, inode: UInt64, from start: Int, fileEnded: Bool, next: LogCursor?,
                               since: String?, gap: Bool) throws(SystemError) -> JSONValue {
        let read = try Files.readRange(path, from: start, count: LogTail.maxAnswerBytes)
        let full = read.bytes.count == LogTail.maxAnswerBytes
        let remaining = read.status.size - start - read.bytes.count
        var split = LogTail.split(read.bytes[...], takeUnfinished: fileEnded && !full && remaining <= 0,
                                  maxEncodedBytes: LogTail.maxAnswerBytes)
        if split.consumed == 0 && full {
            // One line longer than an answer: taken as it is, cut.
            split = LogTail.split(read.bytes[...], takeUnfinished: true, maxEncodedBytes: LogTail.maxAnswerBytes)
        }
        let lines = since.map { LogTail.select(split.lines, last: split.lines.count, since: $0) } ?? split.lines
        let end = start + split.consumed
        let done = fileEnded && end >= read.status.size
        let cursor = done ? (next ?? .file(inode: inode, offset: end)) : .file(inode: inode, offset: end)
        return answer(lines, cursor: cursor, more: full || split.full || (fileEnded && !done), gap: gap)
    }

    private static func readIfThere(_ path: String, fromEnd count: Int) throws(SystemError) -> (bytes: [UInt8], start: Int, status: FileStatus)? {
        guard let found = try status(path) else { return nil }
        let start = max(0, found.size - count)
        let read = try Files.readRange(path, from: start, count: count)
        return (read.bytes, start, read.status)
    }

    private static func status(_ path: String) throws(SystemError) -> FileStatus? {
        do {
            return try Files.status(path, followingLinks: false)
        } catch where error.errno == .noSuchFileOrDirectory {
            return nil
        }
    }

    // MARK: The answer

    private static func answer(_ lines: [String], cursor: LogCursor, more: Bool, gap: Bool, dropped: Int = 0) -> JSONValue {
        var members: [String: JSONValue] = ["lines": .array(lines.map { .string($0) }), "cursor": .string(cursor.text),
                                            "more": .bool(more)]
        if gap { members["gap"] = true }
        if dropped > 0 { members["dropped"] = .int(Int64(dropped)) }
        return .object(members)
    }
}
