import Testing
@testable import EdgeCore
import EdgeJSON

/// The runtime protocol's messages, pinned to docs/runtime-protocol.md.
@Suite struct RuntimeMessageTests {
    @Test func agentMessagesHaveTheDocumentedFields() {
        #expect(AgentMessage.initialize(function: "digits", version: "1.0.0", thing: "dev1", deploymentId: "d1", config: ["t": 1]).json
            == ["type": "init", "function": "digits", "version": "1.0.0", "thing": "dev1", "deploymentId": "d1", "config": ["t": 1]])
        #expect(AgentMessage.config(["threshold": 0.9]).json == ["type": "config", "config": ["threshold": 0.9]])
        #expect(AgentMessage.shutdown.json == ["type": "shutdown"])
        #expect(AgentMessage.publishError(topic: "x", message: "no").json == ["type": "publishError", "topic": "x", "message": "no"])
    }

    @Test(arguments: [
        (["type": "ready"] as [String: JSONValue], FunctionMessage.ready(liveConfig: true)),
        (["type": "ready", "liveConfig": false], .ready(liveConfig: false)),
        (["type": "result", "id": "a", "result": ["digit": 7] as JSONValue], .result(id: "a", value: RawJSON(["digit": 7]))),
        (["type": "result", "id": "a"], .result(id: "a", value: .null)),
        (["type": "result", "id": 5], .result(id: 5, value: .null)),
        (["type": "result"], .result(id: nil, value: .null)),
        (["type": "error", "id": "a", "error": ["type": "ValueError", "message": "bad"] as JSONValue], .error(id: "a", type: "ValueError", message: "bad")),
        (["type": "error", "id": "a"], .error(id: "a", type: "Error", message: "the handler failed without a message")),
        (["type": "publish", "topic": "alerts/x", "payload": 1, "qos": 1, "retain": true], .publish(topic: "alerts/x", payload: 1, qos: 1, retain: true)),
        (["type": "publish", "topic": "alerts/x", "qos": 7], .publish(topic: "alerts/x", payload: .null, qos: 0, retain: false)),
        (["type": "shadow.get", "id": 1], .shadow(type: "shadow.get", request: ["type": "shadow.get", "id": 1])),
        (["type": "hello"], .unknown(type: "hello")),
    ])
    func functionMessagesAreReadAsDocumented(_ members: [String: JSONValue], _ expected: FunctionMessage) {
        #expect(FunctionMessage(members) == expected)
    }

    @Test func anInvokeLineHasTheDocumentedFieldsAndTheEventsOwnBytes() throws {
        let json = Invocation(id: "dev1-7", topic: "sensors/a", payload: Array(#"{"b": 1, "a": [2.50]}"#.utf8), isJSON: true)
        let line = InvokeEvent.line(for: json, timeoutMs: 3000)
        #expect(String(decoding: line, as: UTF8.self)
            == #"{"type":"invoke","id":"dev1-7","topic":"sensors/a","timeoutMs":3000,"event":{"b": 1, "a": [2.50]}}"#)
        let binary = Invocation(id: "dev1-8", topic: "cam", payload: [0xFF, 0x00], isJSON: false)
        #expect(try JSONCodec.parse(InvokeEvent.line(for: binary, timeoutMs: 500)).get()
            == ["type": "invoke", "id": "dev1-8", "topic": "cam", "timeoutMs": 500, "event": .null, "payloadBase64": "/wA="])
    }

    @Test func anInvokeCarriesJSONOnOneLineAsItIsAndAnythingElseAsBase64() {
        let json = Invocation(id: "a", topic: "t", payload: Array(#"{"x": 1}"#.utf8), isJSON: true)
        #expect(InvokeEvent.of(json) == .spliced)
        let multiline = Invocation(id: "a", topic: "t", payload: Array("{\"x\":\r\n 1}".utf8), isJSON: true)
        #expect(InvokeEvent.of(multiline) == .flattened(Array(#"{"x":   1}"#.utf8)))
        let binary = Invocation(id: "a", topic: "t", payload: [0xFF, 0x00], isJSON: false)
        #expect(InvokeEvent.of(binary) == .base64("/wA="))
        let empty = Invocation(id: "a", topic: "t", payload: [], isJSON: false)
        #expect(InvokeEvent.of(empty) == .base64(""))
    }

    @Test func anEventFitsALineUpToAboutThreeMebibytes() {
        #expect(RuntimeProtocol.fits(payloadBytes: 3 << 20 - 4096))
        #expect(!RuntimeProtocol.fits(payloadBytes: 3 << 20 + 1))
    }

    @Test(arguments: [(ErrorKind.timeout, "Timeout"), (.crashed, "Crashed"), (.queueFull, "QueueFull"), (.disabled, "Disabled"),
                      (.broken, "Broken"), (.stopped, "Stopped"), (.payloadTooLarge, "PayloadTooLarge"),
                      (.unknownFunction, "UnknownFunction"), (.handler("ValueError"), "ValueError")])
    func errorKindsHaveTheDocumentedNames(_ kind: ErrorKind, _ name: String) {
        #expect(kind.name == name)
    }
}
