#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import EdgeCore
import EdgeJSON
import EdgePOSIX

/// `edgectl shadow get|update|delete`: the AWS IoT Device Shadow API of a thing, as its agent serves it.
struct Shadow: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Get, update or delete a thing's shadow (classic, or named with --name).",
        discussion: """
            Examples:
              edgectl shadow get --thing cam-01
              edgectl shadow update --thing cam-01 --desired '{"functions": {"digits": {"enabled": false}}}'
              edgectl shadow delete --thing cam-01 --name notes
            """,
        subcommands: [Get.self, Update.self, Delete.self])

    struct Target: ParsableArguments {
        @Option(help: "The thing.") var thing: String
        @Option(help: "A named shadow (default: the classic shadow).") var name: String?
        @Option(name: .customLong("shadow-topic-root"), help: "The shadow topics' root, as the agent's shadows.topicRoot (default $aws).")
        var topicRoot = "$aws"

        func validate() throws {
            if let name, let problem = ShadowTopics.nameProblem(name) { throw ValidationError("--name: \(problem)") }
        }
    }

    struct Get: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the shadow document (state, delta, metadata, version).",
            discussion: """
                Examples:
                  edgectl shadow get --thing cam-01
                  edgectl shadow get --thing cam-01 --name digits     # a function's own shadow
                """)
        @OptionGroup var target: Target
        @OptionGroup var broker: BrokerOptions

        func run() throws { try request(.get, [:], target, broker) }
    }

    struct Update: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Merge desired and/or reported state into the shadow (null deletes a key).",
            discussion: """
                Examples:
                  edgectl shadow update --thing dev1 --desired '{"functions": {"digits": {"config": {"threshold": 0.9}}}}'
                  edgectl shadow update --thing dev1 --name notes --reported '{"seen": 3}' --version 4
                """)
        @OptionGroup var target: Target
        @Option(help: "The desired state, as a JSON object (or null to clear it).") var desired: String?
        @Option(help: "The reported state, as a JSON object (or null to clear it).") var reported: String?
        @Option(help: "Apply only if the shadow is at this version.") var version: Int64?
        @OptionGroup var broker: BrokerOptions

        func run() throws {
            guard desired != nil || reported != nil else { throw ValidationError("give --desired, --reported or both") }
            var state: [String: JSONValue] = [:]
            for (flag, text) in [("desired", desired), ("reported", reported)] {
                guard let text else { continue }
                guard case .success(let value) = JSONCodec.parse(text), value == .null || value.objectValue != nil else {
                    throw ValidationError("--\(flag) must be a JSON object or null, for example '{\"color\": \"red\"}'")
                }
                state[flag] = value
            }
            var document: [String: JSONValue] = ["state": .object(state)]
            if let version { document["version"] = .int(version) }
            try request(.update, document, target, broker)
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete the shadow (its version is kept).",
            discussion: """
                Examples:
                  edgectl shadow delete --thing cam-01 --name notes
                """)
        @OptionGroup var target: Target
        @Option(help: "Delete only if the shadow is at this version.") var version: Int64?
        @OptionGroup var broker: BrokerOptions

        func run() throws { try request(.delete, version.map { ["version": .int($0)] } ?? [:], target, broker) }
    }
}

/// Publishes one request with a client token of its own, prints the accepted document, or the
/// rejection (code, message, detail) on standard error with exit status 1.
private func request(_ operation: ShadowBook.Operation, _ document: [String: JSONValue], _ target: Shadow.Target,
                     _ broker: BrokerOptions) throws {
    let session = try Session(broker)
    defer { session.close() }
    let prefix = "\(ShadowTopics(thing: target.thing, root: target.topicRoot).prefix(target.name))/\(operation.rawValue)"
    try session.subscribe("\(prefix)/+", timeoutSeconds: broker.waitSeconds)
    let token = "edgectl-\(getpid())-\(Clock.monotonicNs())"
    var members = document
    members["clientToken"] = .string(token)
    try session.publishConfirmed(prefix, JSONCodec.serialize(.object(members)), retain: false, timeoutSeconds: broker.waitSeconds)
    let replies = ["\(prefix)/accepted", "\(prefix)/rejected"]
    guard let reply = try session.waitFor(anyOf: replies, timeoutSeconds: broker.waitSeconds, { message in
        guard case .success(let value) = JSONCodec.parse(message.payload) else { return false }
        return value["clientToken"]?.stringValue == token
    }), case .success(let value) = JSONCodec.parse(reply.payload) else {
        throw noAnswer("no answer from \(target.thing)'s shadow within \(broker.waitSeconds) s: is its agent connected?")
    }
    if reply.topic.hasSuffix("/accepted") {
        printJSON(value)
        return
    }
    let code = value["code"]?.intValue.map(String.init) ?? "?"
    let detail = value["detail"]?.stringValue.map { ": \($0)" } ?? ""
    throw Failure("rejected: \(code) \(value["message"]?.stringValue ?? "")\(detail)")
}
