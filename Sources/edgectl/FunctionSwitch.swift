import ArgumentParser
import EdgeCore
import EdgeJSON
import EdgeMQTT
import EdgePOSIX

/// `edgectl stop THING FUNCTION`: the function is turned off through the classic shadow.
struct Stop: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stop a function on a thing; it stays stopped (across restarts) until started.",
        discussion: """
            Sets the classic shadow's desired functions.FUNCTION.enabled to false and waits for the agent's health to \\
            show the function DISABLED. The deployment is untouched: edgectl start turns it on again.

            Examples:
              edgectl stop cam-01 digits
              edgectl stop cam-01 digits --json
            """)
    @OptionGroup var target: FunctionSwitch

    func run() throws { try target.turn(enabled: false) }
}

/// `edgectl start THING FUNCTION`: a function stopped with `stop` (or the shadow) runs again.
struct Start: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start a function stopped with edgectl stop (or through the shadow).",
        discussion: """
            Sets the classic shadow's desired functions.FUNCTION.enabled to true (which also re-arms a BROKEN function) \\
            and waits for the agent's health to show it RUNNING (or IDLE, for an on-demand function).

            Examples:
              edgectl start cam-01 digits
            """)
    @OptionGroup var target: FunctionSwitch

    func run() throws { try target.turn(enabled: true) }
}

/// Which function of which thing `stop` and `start` turn, and how: off or on through the classic
/// shadow, waiting for health to say it is.
struct FunctionSwitch: ParsableArguments {
    @Argument(help: "The thing.") var thing: String
    @Argument(help: "The function.") var function: String
    @Flag(help: "Print JSON: {thing, function, enabled, state}.") var json = false
    @OptionGroup var broker: BrokerOptions

    func turn(enabled: Bool) throws {
        let session = try Session(broker)
        defer { session.close() }
        let topics = Topics(thing: thing)
        guard let retained = try session.retainedMessage(topics.health, timeoutSeconds: min(broker.waitSeconds, 10)),
              case .success(let health) = JSONCodec.parse(retained.payload) else {
            throw Failure("no health report from \(thing) on this broker: check the name (edgectl things)")
        }
        let running = (health["functions"]?.objectValue ?? [:]).keys.sorted()
        guard running.contains(function) else {
            throw Failure("\(thing) has no function \(function) (it has: \(running.isEmpty ? "none" : running.joined(separator: ", ")))")
        }
        try session.subscribe(topics.health, timeoutSeconds: min(broker.waitSeconds, 10))
        let update = "$aws/things/\(thing)/shadow/update"
        try session.subscribe("\(update)/+", timeoutSeconds: min(broker.waitSeconds, 10))
        let token = "edgectl-\(Clock.monotonicNs())-\(UInt32.random(in: 0...UInt32.max))"
        let desired: JSONValue = ["functions": .object([function: ["enabled": .bool(enabled)]])]
        try session.publishConfirmed(update, JSONCodec.serialize(["state": ["desired": desired], "clientToken": .string(token)]),
                                     retain: false, timeoutSeconds: broker.waitSeconds)
        guard let reply = try session.waitFor(anyOf: ["\(update)/accepted", "\(update)/rejected"], timeoutSeconds: broker.waitSeconds, { message in
            guard case .success(let value) = JSONCodec.parse(message.payload) else { return false }
            return value["clientToken"]?.stringValue == token
        }) else {
            throw noAnswer("no answer from \(thing)'s shadow within \(broker.waitSeconds) s: is its agent connected?")
        }
        if reply.topic.hasSuffix("/rejected"), case .success(let value) = JSONCodec.parse(reply.payload) {
            throw Failure("the shadow refused the change: \(value["code"]?.intValue ?? 0) \(value["message"]?.stringValue ?? "")")
        }
        let wanted: Set<String> = enabled ? ["RUNNING", "IDLE"] : ["DISABLED"]
        var state = health["functions"]?[function]?["state"]?.stringValue ?? "?"
        let seen = try session.waitFor(topics.health, timeoutSeconds: broker.waitSeconds) { message in
            guard case .success(let report) = JSONCodec.parse(message.payload),
                  let now = report["functions"]?[function]?["state"]?.stringValue else { return false }
            state = now
            return wanted.contains(now)
        }
        if json {
            printJSON(["thing": .string(thing), "function": .string(function), "enabled": .bool(enabled), "state": .string(state)])
        }
        guard seen != nil else {
            throw noAnswer("\(function) on \(thing) is \(state) after \(broker.waitSeconds) s, not \(wanted.sorted().joined(separator: " or ")) "
                           + "(edgectl health --thing \(thing) says why)")
        }
        if !json {
            print(enabled ? "started \(function) on \(thing): \(state)"
                  : "stopped \(function) on \(thing): \(state) (it stays stopped until: edgectl start \(thing) \(function))")
        }
    }
}
