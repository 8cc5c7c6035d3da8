#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import EdgeAgent
@testable import EdgeCore
import EdgePOSIX

/// `edgectl logs` on the agent's side: a function's log on the real filesystem, rotated by the
/// real `RotatingLog`, read from the end and followed by cursor; and the agent's recent lines.
@Suite struct LogReaderTests {
    private func folder() throws -> String {
        var template = Array("/tmp/edge-logs-XXXXXX".utf8CString)
        let made = try #require(mkdtemp(&template), "mkdtemp: \(Errno.current)")
        return String(cString: made)
    }

    private func write(_ log: RotatingLog, _ text: String) throws {
        try Array(text.utf8).withUnsafeBytes { bytes in try Result { () throws(SystemError) in try log.append(bytes) }.get() }
    }

    private func read(_ path: String, _ request: ControlRequest) throws -> (lines: [String], cursor: String, more: Bool, gap: Bool) {
        let answer = try LogReader.read(path: path, request).get()
        return ((answer["lines"]?.arrayValue ?? []).compactMap(\.stringValue), answer["cursor"]?.stringValue ?? "",
                answer["more"]?.boolValue ?? false, answer["gap"]?.boolValue ?? false)
    }

    @Test func theNewestLinesComeFromTheLogAndTheFileRotationKeptThenFollowingGoesOnAcrossARotation() throws {
        let directory = try folder()
        defer { try? Files.removeTree(directory) }
        let path = "\(directory)/f.log"
        let log = RotatingLog(path: path, maxBytes: 50, keep: 1)
        try write(log, "line 1\nline 2\nline 3\n")
        try write(log, "line 4\nline 5\nline 6\n")
        try write(log, "line 7\nline 8\nline 9\n")  // 42 + 21 > 50: rotated before this
        let tail = try read(path, ControlRequest(action: .logs, function: "f", lines: 5))
        #expect(tail.lines == ["line 5", "line 6", "line 7", "line 8", "line 9"])
        let both = try read(path, ControlRequest(action: .logs, function: "f", lines: 100))
        #expect(both.lines == (1...9).map { "line \($0)" }, "the rotated file's lines come first")

        try write(log, "line 10\nunfinish")
        let next = try read(path, ControlRequest(action: .logs, function: "f", cursor: tail.cursor))
        #expect(next.lines == ["line 10"] && !next.more, "a line not finished yet waits")
        // This write rotates the file: the follower finishes the old one (its unfinished line too) first.
        try write(log, "ed\n" + String(repeating: "x", count: 60) + "\n")
        let older = try read(path, ControlRequest(action: .logs, function: "f", cursor: next.cursor))
        #expect(older.lines == ["unfinish"] && !older.gap)
        let newer = try read(path, ControlRequest(action: .logs, function: "f", cursor: older.cursor))
        #expect(newer.lines == ["ed", String(repeating: "x", count: 60)] && !newer.gap)
        // Two more rotations: what came between is gone, and the answer says so. (Held open here so
        // that the file system cannot give its inode number to the next file at once.)
        let held = open(path, O_RDONLY)
        #expect(held >= 0)
        defer { close(held) }
        try write(log, String(repeating: "y", count: 63) + "\n")
        try write(log, String(repeating: "z", count: 63) + "\n")
        let after = try read(path, ControlRequest(action: .logs, function: "f", cursor: newer.cursor))
        #expect(after.gap && after.lines == [String(repeating: "z", count: 63)])
    }

    @Test func aLogNotWrittenYetIsEmptyAndFollowedFromItsStart() throws {
        let directory = try folder()
        defer { try? Files.removeTree(directory) }
        let path = "\(directory)/f.log"
        let empty = try read(path, ControlRequest(action: .logs, function: "f"))
        #expect(empty.lines.isEmpty)
        try write(RotatingLog(path: path), "first\n")
        #expect(try read(path, ControlRequest(action: .logs, function: "f", cursor: empty.cursor)).lines == ["first"])
    }

    @Test func aSymbolicLinkIsNotFollowed() throws {
        let directory = try folder()
        defer { try? Files.removeTree(directory) }
        #expect(symlink("/etc/passwd", "\(directory)/f.log") == 0)
        #expect(throws: ControlError.self) { try LogReader.read(path: "\(directory)/f.log", ControlRequest(action: .logs, function: "f")).get() }
    }

    @Test func theAgentsOwnLinesAreKeptBoundedAndFollowedByNumberUntilItRestarts() throws {
        let recent = RecentLines(maxLines: 3)
        for n in 1...4 { recent.append("2026-12-05T15:00:0\(n).000Z info line \(n)") }
        let all = try LogReader.read(recent, ControlRequest(action: .logs, lines: 2), boot: 7).get()
        #expect(all["lines"] == ["2026-12-05T15:00:03.000Z info line 3", "2026-12-05T15:00:04.000Z info line 4"])
        recent.append("2026-12-05T15:00:05.000Z info line 5")
        let next = try LogReader.read(recent, ControlRequest(action: .logs, cursor: all["cursor"]?.stringValue), boot: 7).get()
        #expect(next["lines"] == ["2026-12-05T15:00:05.000Z info line 5"] && next["gap"] == nil)
        for n in 6...9 { recent.append("line \(n)") }
        let late = try LogReader.read(recent, ControlRequest(action: .logs, cursor: next["cursor"]?.stringValue), boot: 7).get()
        #expect(late["gap"] == true && late["lines"] == ["line 7", "line 8", "line 9"])
        // The agent restarted (a new boot, numbers from 0 again): what it kept comes, as a gap.
        let fresh = RecentLines()
        fresh.append("started again")
        let after = try LogReader.read(fresh, ControlRequest(action: .logs, cursor: late["cursor"]?.stringValue), boot: 8).get()
        #expect(after["gap"] == true && after["lines"] == ["started again"])
    }
}
