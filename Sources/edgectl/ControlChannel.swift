#if canImport(Glibc)
import Glibc
#endif
import EdgeCore
import EdgeJSON
import EdgeMQTT
import EdgePOSIX

/// edgectl's side of a thing's control topic (`edge/things/THING/control`): requests carry a
/// `requestId` and a `replyTo` under `edgectl/replies/THING/`, which the shipped ACL lets the
/// device write and operators read; each is answered there by the agent.
final class ControlChannel {
    let session: Session
    let thing: String
    private let replyTopic: String
    private let timeoutSeconds: Int
    private var sent = 0

    init(_ session: Session, thing: String, timeoutSeconds: Int) throws {
        self.session = session
        self.thing = thing
        self.timeoutSeconds = timeoutSeconds
        replyTopic = "edgectl/replies/\(thing)/\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 36))"
        try session.subscribe(replyTopic, timeoutSeconds: timeoutSeconds)
    }

    /// Sends one request and returns the agent's answer: its `result` when `status` is ok; an
    /// error answer fails with the agent's message (exit 1), no answer in time with exit 3.
    /// With `timeoutSeconds`, no answer in that time throws `NoAnswer` (nothing said) instead.
    func request(_ action: String, function: String?, _ fields: [String: JSONValue] = [:], timeoutSeconds quiet: Int? = nil) throws -> JSONValue {
        sent += 1
        let id = "\(replyTopic.split(separator: "/").last ?? "")-\(sent)"
        var members = fields
        members["action"] = .string(action)
        members["requestId"] = .string(id)
        members["replyTo"] = .string(replyTopic)
        if let function { members["function"] = .string(function) }
        try session.publishConfirmed(Topics(thing: thing).control, JSONCodec.serialize(.object(members)), retain: false,
                                     timeoutSeconds: timeoutSeconds)
        guard let message = try session.waitFor(replyTopic, timeoutSeconds: quiet ?? timeoutSeconds, { message in
            guard case .success(let answer) = JSONCodec.parse(message.payload) else { return false }
            return answer["requestId"]?.stringValue == id
        }), case .success(let answer) = JSONCodec.parse(message.payload) else {
            if quiet != nil { throw NoAnswer() }
            throw noAnswer("no answer from \(thing) to \(action) within \(timeoutSeconds) s: is its agent online and as new as this edgectl (\(ProductVersion.text))? "
                           + "(edgectl things)")
        }
        guard answer["status"]?.stringValue == "ok" else {
            let type = answer["error"]?["type"]?.stringValue ?? "Error"
            let text = answer["error"]?["message"]?.stringValue ?? String(decoding: message.payload, as: UTF8.self)
            throw ControlRefusal(type: type, message: text)
        }
        return answer["result"] ?? .null
    }

    /// The thing's retained health, or a failure saying it has none or is offline.
    func onlineHealth() throws -> JSONValue {
        guard let retained = try session.retainedMessage(Topics(thing: thing).health, timeoutSeconds: min(timeoutSeconds, 10)),
              case .success(let health) = JSONCodec.parse(retained.payload) else {
            throw Failure("no health report from \(thing) on this broker: check the name (edgectl things)")
        }
        guard health["status"]?.stringValue == "online" else {
            throw Failure("\(thing) is offline (\(health["reason"]?.stringValue ?? "no reason given")): it would act on this only when it "
                          + "connects again")
        }
        return health
    }
}

/// No answer within a request's own timeout (said by the caller, if at all).
struct NoAnswer: Error {}

/// The agent's error answer to a control request: printed as `TYPE: message`, exit 1.
struct ControlRefusal: Error, CustomStringConvertible {
    var type: String
    var message: String
    var description: String { "\(type): \(message)" }
}
