#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import EdgeCore
import EdgeJSON
import EdgeMQTT
import EdgePOSIX

/// The fleet: every thing that has a retained health report on the broker.
struct Things: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the fleet: every thing with a health report on the broker.",
        discussion: """
            Reads the retained health reports (edge/things/+/health): online or offline and since when, the agent's \
            version, the deployment and its status, and each function's state, restarts, memory against its limit \
            and CPU cap.

            Examples:
              edgectl things
              edgectl things --group line1 --json
              edgectl things --watch          # redrawn as reports come, until Ctrl-C
            """)
    @Option(help: "Only the things of this thing group.") var group: String?
    @Flag(help: "Print JSON: an array of {thing, health}; with --watch, one such array per line.") var json = false
    @Flag(help: "Keep running and print the fleet again each time a report changes.") var watch = false
    @OptionGroup var broker: BrokerOptions

    func run() throws {
        let session = try Session(broker)
        defer { session.close() }
        let filter = TopicFilter("edge/things/+/health")!
        try session.subscribe(filter.text, timeoutSeconds: broker.waitSeconds)
        // The retained reports come right after the SUBACK; a quiet moment ends them.
        var reports: [String: JSONValue] = [:]
        let now = Clock.monotonicMs()
        Things.take(session.gather(filter, quietMs: 300, deadlineMs: now + Int64(broker.waitSeconds) * 1000), into: &reports)
        show(reports)
        guard watch else {
            if FleetTable.things(reports, group: group).isEmpty {
                printError("edgectl: no thing\(group.map { " of group \($0)" } ?? "") has a health report on this broker")
                throw ExitCode(1)
            }
            return
        }
        while true {
            Things.take(session.next(filter), into: &reports)
            // A burst (a group deployment) is drawn once.
            Things.take(session.gather(filter, quietMs: 200, deadlineMs: Clock.monotonicMs() + 1000), into: &reports)
            show(reports)
        }
    }

    /// The health reports among `messages`, by thing.
    static func reports(_ messages: [MQTTMessage]) -> [String: JSONValue] {
        var reports: [String: JSONValue] = [:]
        take(messages, into: &reports)
        return reports
    }

    private static func take(_ messages: [MQTTMessage], into reports: inout [String: JSONValue]) {
        for message in messages {
            let levels = message.topic.split(separator: "/", omittingEmptySubsequences: false)
            guard levels.count == 4, !levels[2].isEmpty else { continue }
            let thing = levels[2]
            if message.payload.isEmpty {
                reports[String(thing)] = nil
            } else if case .success(let health) = JSONCodec.parse(message.payload) {
                reports[String(thing)] = health
            }
        }
    }

    private func show(_ reports: [String: JSONValue]) {
        let things = FleetTable.things(reports, group: group)
        if json {
            print(JSONCodec.text(FleetTable.json(things)))
        } else {
            if watch && isatty(1) == 1 { print("\u{1B}[H\u{1B}[2J", terminator: "") }
            for line in FleetTable.render(FleetTable.rows(things, nowMs: Clock.wallMs())) { print(line) }
            if watch { print("") }
        }
        fflush(nil)
    }
}

/// Prints the connection settings in effect and where each comes from.
struct Config: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the connection settings in effect and where each comes from.",
        discussion: """
            Each setting comes from its flag, else its EDGECTL_* variable, else the profile in use, else the default. \
            The profile file is $EDGECTL_CONFIG or ~/.config/edgectl/config.json:
              {"defaultProfile": "lab",
               "profiles": {"lab": {"host": "broker.lab", "port": 8883, "tlsCA": "ca.crt",
                                    "tlsCert": "operator.crt", "tlsKey": "operator.key"}}}

            Examples:
              edgectl config
              edgectl config --profile lab --json
            """)
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var broker: BrokerOptions

    func run() throws {
        let settings = try broker.settings
        if json {
            var members: [String: JSONValue] = [:]
            for row in settings.rows {
                members[row.name] = .object(["value": row.value.map { .string($0) } ?? .null, "source": .string(row.source)])
            }
            if let profile = settings.profile { members["profile"] = .object(["name": .string(profile.name), "file": .string(profile.file)]) }
            printJSON(.object(members))
            return
        }
        if let profile = settings.profile { print("profile \(profile.name) from \(profile.file)") } else { print("no profile") }
        for row in settings.rows {
            print("\(row.name): \(row.value ?? "-") (\(row.source))")
        }
    }
}
