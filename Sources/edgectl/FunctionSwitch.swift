import ArgumentParser
import EdgeCore
import EdgeJSON
import EdgeMQTT
import EdgePOSIX

/// `edgectl stop THING FUNCTION`: the function is turned off through the agent's control topic.
struct Stop: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stop a function on a thing; it stays stopped (across restarts) until started.",
        discussion: """
            Asks the agent on its control topic; the agent sets its classic shadow's desired \\
            functions.FUNCTION.enabled to false and answers. edgectl then waits for health to show the function DISABLED. \\
            The deployment is untouched: edgectl start turns it on again.

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
            Asks the agent on its control topic to set desired functions.FUNCTION.enabled to true (which also re-arms a \\
            BROKEN function), and waits for health to show it RUNNING (or IDLE, for an on-demand function).

            Examples:
              edgectl start cam-01 digits
            """)
    @OptionGroup var target: FunctionSwitch

    func run() throws { try target.turn(enabled: true) }
}

/// `edgectl restart THING FUNCTION`: fresh processes, each once it has answered the event in hand.
struct Restart: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Restart a function's processes on a thing.",
        discussion: """
            Asks the agent on its control topic. Each process finishes the event it is handling, then a fresh one \\
            starts (an on-demand function's next event starts one); a function waiting out a crash's backoff starts \\
            now; a BROKEN one is re-armed. edgectl waits for health to show new processes RUNNING (or the function IDLE). \\
            A stopped (DISABLED) function is not restarted: edgectl start it.

            Examples:
              edgectl restart cam-01 digits
              edgectl restart cam-01 digits --json
            """)
    @OptionGroup var target: FunctionSwitch

    func run() throws { try target.restart() }
}

/// Which function of which thing `stop`, `start` and `restart` act on, and how: a request on the
/// agent's control topic, then its health followed until the function is as asked.
struct FunctionSwitch: ParsableArguments {
    @Argument(help: "The thing.") var thing: String
    @Argument(help: "The function.") var function: String
    @Flag(help: "Print JSON: {thing, function, state, …}.") var json = false
    @OptionGroup var broker: BrokerOptions

    func turn(enabled: Bool) throws {
        let (session, channel) = try open()
        defer { session.close() }
        _ = try channel.onlineHealth()
        try session.subscribe(Topics(thing: thing).health, timeoutSeconds: min(broker.waitSeconds, 10))
        let answer = try request(channel, enabled ? "start" : "stop")
        let wanted: Set<String> = enabled ? ["RUNNING", "IDLE"] : ["DISABLED"]
        let state = try waitInHealth(session, from: answer["state"]?.stringValue ?? "?") { wanted.contains($0.state) }
        if json {
            printJSON(["thing": .string(thing), "function": .string(function), "enabled": .bool(enabled), "state": .string(state.state)])
        }
        guard state.reached else {
            throw noAnswer("\(function) on \(thing) is \(state.state) after \(broker.waitSeconds) s, not \(wanted.sorted().joined(separator: " or ")) "
                           + "(edgectl health --thing \(thing) says why)")
        }
        if !json {
            print(enabled ? "started \(function) on \(thing): \(state.state)"
                  : "stopped \(function) on \(thing): \(state.state) (it stays stopped until: edgectl start \(thing) \(function))")
        }
    }

    func restart() throws {
        let (session, channel) = try open()
        defer { session.close() }
        _ = try channel.onlineHealth()
        try session.subscribe(Topics(thing: thing).health, timeoutSeconds: min(broker.waitSeconds, 10))
        let answer = try request(channel, "restart")
        let before = Set((answer["previousPids"]?.arrayValue ?? []).compactMap(\.intValue))
        // Done once none of the old processes is left and the function runs again (or waits, on demand, for its next event).
        let state = try waitInHealth(session, from: answer["state"]?.stringValue ?? "?") { seen in
            (seen.state == "RUNNING" && !seen.pids.isEmpty || seen.state == "IDLE") && seen.pids.isDisjoint(with: before)
        }
        if json {
            printJSON(["thing": .string(thing), "function": .string(function), "state": .string(state.state),
                       "previousPids": .array(before.sorted().map { .int($0) }), "pids": .array(state.pids.sorted().map { .int($0) })])
        }
        guard state.reached else {
            throw noAnswer("\(function) on \(thing) is \(state.state) after \(broker.waitSeconds) s, not running again with new processes "
                           + "(edgectl health --thing \(thing) and edgectl logs \(thing) \(function) say why)")
        }
        if !json {
            let old = before.sorted().map(String.init).joined(separator: ", ")
            let new = state.pids.sorted().map(String.init).joined(separator: ", ")
            print("restarted \(function) on \(thing): \(state.state)" + (old.isEmpty && new.isEmpty ? "" : " (pid \(old.isEmpty ? "-" : old) → \(new.isEmpty ? "-" : new))"))
        }
    }

    private func open() throws -> (Session, ControlChannel) {
        let session = try Session(broker)
        do {
            return (session, try ControlChannel(session, thing: thing, timeoutSeconds: broker.waitSeconds))
        } catch {
            session.close()
            throw error
        }
    }

    private func request(_ channel: ControlChannel, _ action: String) throws -> JSONValue {
        do {
            return try channel.request(action, function: function)
        } catch let refusal as ControlRefusal {
            throw Failure("\(thing) did not \(action) \(function): \(refusal)")
        }
    }

    /// Follows health until `done` holds for the function (or the timeout): its last state and pids.
    private func waitInHealth(_ session: Session, from initial: String,
                              _ done: ((state: String, pids: Set<Int64>)) -> Bool) throws -> (state: String, pids: Set<Int64>, reached: Bool) {
        var seen: (state: String, pids: Set<Int64>) = (initial, [])
        let found = try session.waitFor(Topics(thing: thing).health, timeoutSeconds: broker.waitSeconds) { message in
            guard case .success(let report) = JSONCodec.parse(message.payload), let entry = report["functions"]?[function],
                  let state = entry["state"]?.stringValue else { return false }
            seen = (state, Set((entry["pids"]?.arrayValue ?? []).compactMap(\.intValue)))
            return done(seen)
        }
        return (seen.state, seen.pids, found != nil)
    }
}
