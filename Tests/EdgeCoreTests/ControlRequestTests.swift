import EdgeJSON
import Testing
@testable import EdgeCore

@Suite struct ControlRequestTests {
    private func parse(_ text: String) -> Result<ControlRequest, ControlError> {
        guard case .success(let value) = JSONCodec.parse(text) else { Issue.record("not JSON: \(text)"); return .failure(.invalid("")) }
        return ControlRequest.parse(value)
    }

    private func message(_ text: String) -> String? {
        if case .failure(let error) = parse(text) { return error.message }
        return nil
    }

    @Test func aValidRequestIsRead() throws {
        let request = try parse(#"{"action":"logs","function":"digits","lines":5,"since":"2026-12-05T15:00:00.000Z","requestId":"r1","replyTo":"edgectl/replies/t/1"}"#).get()
        #expect(request == ControlRequest(action: .logs, function: "digits", requestId: "r1", replyTo: "edgectl/replies/t/1", lines: 5,
                                          since: "2026-12-05T15:00:00.000Z"))
        #expect(try parse(#"{"action":"logs"}"#).get().function == nil, "logs without a function: the agent's own")
        #expect(try parse(#"{"action":"restart","function":"f"}"#).get().lines == ControlRequest.defaultLines)
    }

    @Test func eachMistakeIsNamedWithItsFix() {
        #expect(message("[1]")?.hasPrefix("a control request is a JSON object") == true)
        #expect(message(#"{"function":"f"}"#) == "action is missing or not a string: give one of restart, stop, start, logs")
        #expect(message(#"{"action":"reboot"}"#) == #"action "reboot" is not known: give one of restart, stop, start, logs"#)
        #expect(message(#"{"action":"stop"}"#) == "function is missing: stop needs the function's name")
        #expect(message(#"{"action":"stop","function":"a/b"}"#) == #"function "a/b" is not a function name"#)
        #expect(message(#"{"action":"stop","function":7}"#) == "function must be a string")
        #expect(message(#"{"action":"logs","lines":0}"#) == "lines must be a whole number from 1 to 1000")
        #expect(message(#"{"action":"logs","lines":1001}"#) == "lines must be a whole number from 1 to 1000")
        #expect(message(#"{"action":"logs","since":"yesterday"}"#)?.contains("is not an ISO 8601 UTC time") == true)
        #expect(message(#"{"action":"logs","cursor":"x-1"}"#)?.contains("drop it to read from the end") == true)
    }

    @Test func aWrongRequestIsStillAnsweredWhereItAsked() throws {
        let document = try JSONCodec.parse(#"{"action":"reboot","requestId":"r9","replyTo":"edgectl/replies/t/9"}"#).get()
        let envelope = ControlRequest.envelope(document)
        #expect(envelope.requestId == "r9" && envelope.replyTo == "edgectl/replies/t/9")
        let answer = ControlAnswer(thing: "t", request: nil, requestId: envelope.requestId, outcome: .failure(.invalid("wrong")))
        #expect(answer.document(timestamp: 5) == ["thing": "t", "timestamp": 5, "requestId": "r9", "status": "error",
                                                  "error": ["type": "InvalidRequest", "message": "wrong"]])
    }

    @Test func aControlActionIsSaidOnTheEventsTopic() {
        let done = AgentEvent.control("restart", function: "f", requestId: "r1", error: nil).document(thing: "t", timestamp: 1)
        #expect(done == ["type": "control.restart", "thing": "t", "timestamp": 1, "function": "f", "outcome": "ok", "requestId": "r1"])
        let refused = AgentEvent.control("stop", function: "f", requestId: nil, error: "no").document(thing: "t", timestamp: 1)
        #expect(refused["outcome"] == "error" && refused["error"] == "no")
    }
}

@Suite struct LogTailTests {
    @Test func stampsAreRecognisedAndCompareAsTime() {
        #expect(LogLine.isTimestamp("2026-12-05T15:00:00.000Z"))
        #expect(!LogLine.isTimestamp("2026-12-05 15:00:00.000Z") && !LogLine.isTimestamp("2026-12-05T15:00:00Z"))
        #expect(LogLine.stamp(of: "2026-12-05T15:00:00.123Z INFO f: hi") == "2026-12-05T15:00:00.123Z")
        #expect(LogLine.stamp(of: "Traceback (most recent call last):") == nil)
    }

    @Test func linesAreSplitAtNewlinesKeepingAnUnfinishedOneForLater() {
        let bytes = Array("tail of a line\none\ntwo\nthr".utf8)
        let split = LogTail.split(bytes[...], dropFirst: true)
        #expect(split.lines == ["one", "two"] && split.consumed == bytes.count - 3)
        let all = LogTail.split(bytes[...], takeUnfinished: true)
        #expect(all.lines == ["tail of a line", "one", "two", "thr"] && all.consumed == bytes.count)
        let long = [UInt8](repeating: UInt8(ascii: "x"), count: LogTail.maxLineBytes + 10) + [10]
        #expect(LogTail.split(long[...]).lines.first?.hasSuffix(" … (10 bytes more)") == true)
    }

    @Test func sinceKeepsTheLinesFromTheFirstStampedLaterWithTheirContinuations() {
        let lines = ["2026-12-05T14:00:00.000Z old", "continued old", "2026-12-05T15:00:00.000Z new", "Traceback", "2026-12-05T15:01:00.000Z newer"]
        #expect(LogTail.select(lines, last: 100, since: "2026-12-05T14:30:00.000Z") == Array(lines[2...]))
        #expect(LogTail.select(lines, last: 2, since: nil) == Array(lines[3...]))
        #expect(LogTail.select(lines, last: 100, since: "2027-01-01T00:00:00.000Z").isEmpty)
    }

    @Test func anAnswerKeepsTheNewestLinesThatFit() {
        let lines = (0..<10).map { String(repeating: "\($0)", count: 99) }
        let fitted = LogTail.fit(lines, maxBytes: 350)
        #expect(fitted.lines == Array(lines[7...]) && fitted.dropped == 7)
    }

    @Test func aCursorRoundTripsAndAnotherTextIsRefused() {
        #expect(LogCursor(LogCursor.file(inode: 42, offset: 7).text) == .file(inode: 42, offset: 7))
        #expect(LogCursor(LogCursor.memory(boot: 1796484814000, sequence: 3).text) == .memory(boot: 1796484814000, sequence: 3))
        #expect(LogCursor("f-1") == nil && LogCursor("m-1--1") == nil && LogCursor("m-3") == nil && LogCursor("z-1-2") == nil)
        #expect(LogCursor("f-1-99999999999999999999") == nil, "an offset past Int is refused, not a crash")
    }

    @Test func anAnswerIsMeasuredAsTheJSONItBecomes() {
        #expect(LogTail.encodedSize("abc") == 6)
        #expect(LogTail.encodedSize("a\"b\\") == 3 + 6)
        #expect(LogTail.encodedSize("\u{1}\u{1}") == 3 + 12)
        let control = [UInt8](repeating: 1, count: 100) + [10]
        let lines = (0..<10).flatMap { _ in control }
        let split = LogTail.split(lines[...], maxEncodedBytes: 1000)
        #expect(split.lines.count == 1 && split.full && split.consumed == 101, "one line of 603 bytes fits, the second does not")
        #expect(!LogTail.split(lines[...]).full && LogTail.split(lines[...]).lines.count == 10)
        #expect(LogTail.fitOldest(["aaaa", "bbbb", "cccc"], maxBytes: 15) == ["aaaa", "bbbb"])
    }
}
