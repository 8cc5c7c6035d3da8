import Testing
@testable import EdgeAgent
import EdgeCore
import EdgeJSON
import EdgePOSIX

@Suite struct EventPumpTests {
    @Test func anEventCausedWhileHandlingWaitsForTheCurrentOneToFinish() {
        let pump = EventPump<Int>()
        var journal: [String] = []
        func handle(_ event: Int) {
            journal.append("begin \(event)")
            if event < 3 { pump.feed(event + 1, handle) }
            journal.append("end \(event)")
        }
        pump.feed(1, handle)
        #expect(journal == ["begin 1", "end 1", "begin 2", "end 2", "begin 3", "end 3"])
    }
}

@Suite struct NamedTimersTests {
    @Test func armingANameAgainReplacesItAndACancelledOneNeverFires() {
        let loop = EventLoop()
        var fired: [String] = []
        let timers = NamedTimers<String>(loop: loop) { name in fired.append(name) }
        timers.arm("restart", afterMs: 50)
        timers.arm("restart", afterMs: 1)
        timers.arm("gone", afterMs: 1)
        timers.cancel("gone")
        timers.arm("later", afterMs: 20)
        // Long enough for the replaced 50 ms timer to have fired, had it not been replaced.
        loop.after(120) { loop.stop() }
        loop.run()
        #expect(fired == ["restart", "later"])
    }
}

@Suite struct RuntimeLineTests {
    private func read(_ text: String) -> RuntimeLine.Line {
        Array(text.utf8).withUnsafeBufferPointer { RuntimeLine.read($0) }
    }

    private func message(_ text: String) -> FunctionMessage? {
        if case .message(let message) = read(text) { return message }
        return nil
    }

    @Test func aResultKeepsItsValueAsTheBytesItCameAs() {
        #expect(message(#"{"type":"result","id":"dev1-7","result":{"digit": 7,"p":0.98}}"#)
                == .result(id: "dev1-7", value: RawJSON(validated: Array(#"{"digit": 7,"p":0.98}"#.utf8))))
        #expect(message(#"{"result":[1] ,"id":"a","type":"result"}"#) == .result(id: "a", value: RawJSON(validated: Array("[1]".utf8))))
        #expect(message(#"{"type":"result","id":"a"}"#) == .result(id: "a", value: .null))
    }

    @Test func aResultWithEscapesOrAnIdThatIsNoStringIsReadTheLongWay() {
        #expect(message(#"{"type":"result","id":"a\u0062","result":1}"#) == .result(id: "ab", value: RawJSON(1)))
        #expect(message(#"{"type":"result","id":5,"result":1}"#) == .result(id: 5, value: RawJSON(1)))
        #expect(message(#"{"type":"res\u0075lt","id":"a","result":{"b":2}}"#) == .result(id: "a", value: RawJSON(["b": 2])))
        #expect(message(#"{"type":"result","\u0069d":"x","id":"a"}"#) == .result(id: "a", value: .null))
    }

    @Test func otherMessagesAreParsed() {
        #expect(message(#"{"type":"ready","liveConfig":false}"#) == .ready(liveConfig: false))
        #expect(message(#"{"type":"error","id":"a","error":{"type":"E","message":"m"}}"#) == .error(id: "a", type: "E", message: "m"))
    }

    @Test func blankLinesAreSkippedAndBadOnesAreProtocolErrors() {
        guard case .blank = read(" \r\t") else { Issue.record("a blank line is not skipped"); return }
        guard case .problem(let notJSON) = read(#"{"type":"result","id":"a","result":NaN}"#) else { Issue.record("NaN accepted"); return }
        #expect(notJSON.hasPrefix("fd 3 carried a line that is not JSON (invalid JSON at byte 35: unexpected character 'N')"))
        guard case .problem(let noType) = read(#"{"id":"a"}"#) else { Issue.record("a message without type accepted"); return }
        #expect(noType == #"a message on fd 3 is not a JSON object with a string "type": {"id":"a"}"#)
        func result(nesting depth: Int) -> String {
            "{\"type\":\"result\",\"id\":\"a\",\"result\":" + String(repeating: "[", count: depth - 1) + String(repeating: "]", count: depth - 1) + "}"
        }
        guard case .problem(let tooDeep) = read(result(nesting: 129)) else { Issue.record("a line nested 129 deep accepted"); return }
        #expect(tooDeep.contains("nests deeper than 128 levels"))
    }

    @Test func anAnswerMayNestDeeperThanTheEventsItWasGiven() {
        // An event may nest 64 levels as JSON; echoed inside a result (and a wrapper of the
        // function's own) it nests deeper, and that is still an answer, not a protocol error.
        let event = String(repeating: "{\"a\":", count: RuntimeProtocol.maxEventDepth) + "1" + String(repeating: "}", count: RuntimeProtocol.maxEventDepth)
        let line = "{\"type\":\"result\",\"id\":\"a\",\"result\":{\"echo\":{\"event\":" + event + "}}}"
        guard case .message(.result(let id, let value)) = read(line) else { Issue.record("a deep answer was refused"); return }
        #expect(id == "a")
        #expect(value.bytes.count == ("{\"echo\":{\"event\":" + event + "}}").utf8.count)
    }
}
