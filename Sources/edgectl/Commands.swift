#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import EdgeCore
import EdgeJSON
import EdgePOSIX
import EdgeSigning

/// Checks a deployment document with the agent's own rules, without publishing it.
struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a deployment document without publishing it.",
        discussion: """
            Examples:
              edgectl validate digits.json
              edgectl validate digits.json --thing cam-01     # {thing} in topics expanded as on cam-01
              edgectl validate digits.json --json
              edgectl validate digits.signed.json             # an envelope from edgectl sign: names its signers
            """)
    @Argument(help: "The deployment document (JSON).") var file: String
    @Option(help: "Thing name used to expand {thing} in topics.") var thing = "thing"
    @Flag(help: "Print JSON: {valid, deploymentId, revision, functions, signedBy} or {valid: false, issues: [{path, message, value}]}.")
    var json = false

    func run() throws {
        let (document, bytes) = try readJSON(file)
        let opened = try OperatorDocument.open(document, bytes: bytes, from: file)
        let signed = opened.envelope == nil ? "" : ", signed by \(opened.signers.joined(separator: ", ")) (not verified here: the agent checks it)"
        switch DeploymentParser.parse(opened.deployment, thing: thing) {
        case .success(let deployment) where json:
            printJSON(["valid": true, "deploymentId": .string(deployment.deploymentId), "revision": .int(Int64(deployment.revision)),
                       "functions": .array(deployment.functions.keys.sorted().map { .string($0) }),
                       "signedBy": .array(opened.signers.map { .string($0) })])
        case .failure(let rejection) where json:
            printJSON(["valid": false, "issues": .array(rejection.issues.map(\.json))])
            throw ExitCode(1)
        case .success(let deployment):
            print("valid: \(deployment.deploymentId) revision \(deployment.revision), \(deployment.functions.count) function(s): \(deployment.functions.keys.sorted().joined(separator: ", "))\(signed)")
        case .failure(let rejection):
            printIssues(rejection.issues)
            throw ExitCode(1)
        }
    }
}

func printIssues(_ issues: [ValidationIssue]) {
    print("invalid: \(issues.count) problem\(issues.count == 1 ? "" : "s")")
    for issue in issues { print("  \(issue)") }
}

/// Validates, checks what is there, publishes (retained) and follows the outcome: the thing's
/// deployment status, or every member's of a group, live.
struct Deploy: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish a deployment and follow its outcome on the thing, or on every device of the group.",
        discussion: """
            Before publishing: the document is validated with the agent's rules; its revision must be greater than the \
            one retained on the topic (the agent ignores any other); with --thing, the thing must have connected to \
            this broker once (--new-thing to deploy to a device that has not yet). The publish must be acknowledged \
            by the broker: a refusal (an ACL) is said, naming the topic.

            With --group, every member online (each thing whose health names the group) is followed live: a line \
            as each finishes and a progress bar (on a terminal), then a summary. Members offline now get the \
            deployment when they connect and are not waited for. Exits 1 if any member failed, rolled back or \
            rejected it, 3 if some had not finished within --timeout (named).

            Examples:
              edgectl deploy digits.json --thing cam-01
              edgectl deploy digits.json --group line1 --timeout 300
              edgectl deploy digits.json --group line1 --json
              edgectl deploy digits.json --thing cam-99 --new-thing --no-wait
            """)
    @Argument(help: "The deployment document (JSON), or a signed envelope (edgectl sign).") var file: String
    @OptionGroup var target: TargetOptions
    @OptionGroup var broker: BrokerOptions
    @OptionGroup var signing: SigningOptions
    @Flag(help: "Publish and return without waiting for the outcome.") var noWait = false
    @Flag(help: "Deploy to a thing that has never connected to this broker (it gets the document when it does).") var newThing = false
    @Flag(help: "Print JSON: {topic, deploymentId, revision, status} (--thing) or {group, results: [{thing, status, reason}], …}.")
    var json = false

    func run() throws {
        let (document, given) = try readJSON(file)
        let opened = try OperatorDocument.open(document, bytes: given, from: file)
        let deployment: Deployment
        switch DeploymentParser.parse(opened.deployment, thing: target.thing ?? "thing") {
        case .success(let parsed): deployment = parsed
        case .failure(let rejection):
            if json {
                printJSON(["published": false, "issues": .array(rejection.issues.map(\.json))])
            } else {
                printIssues(rejection.issues)
                print("nothing was published")
            }
            throw ExitCode(1)
        }
        if let named = opened.deployment["target"]?.stringValue, named != target.deploymentTarget {
            throw ValidationError("the document's target is \(named), not \(target.deploymentTarget): the agent would refuse it; nothing was published")
        }
        var bytes = given
        if let key = try signing.key() {
            bytes = Array(JSONCodec.text(try signing.sign(opened.targeted(target.deploymentTarget), with: key).json).utf8)
        }
        let topic = target.thing.map { Topics(thing: $0).deployment } ?? Topics.groupDeployment(target.group!)
        let session = try Session(broker)
        defer { session.close() }
        try checkBeforePublishing(deployment, topic: topic, session: session)
        // Statuses are subscribed to before the publish, so none is missed.
        var progress: GroupProgress?
        let statusFilter = target.thing.map { Topics(thing: $0).deploymentStatus } ?? "edge/things/+/deployment/status"
        if !noWait {
            if let group = target.group {
                let healthFilter = TopicFilter("edge/things/+/health")!
                try session.subscribe(healthFilter.text, timeoutSeconds: broker.waitSeconds)
                let reports = Things.reports(session.gather(healthFilter, quietMs: 300, deadlineMs: Clock.monotonicMs() + 10_000))
                progress = GroupProgress(group: group, deploymentId: deployment.deploymentId, revision: Int64(deployment.revision),
                                         health: reports)
            }
            try session.subscribe(statusFilter, timeoutSeconds: broker.waitSeconds)
        }
        try session.publishConfirmed(topic, bytes, retain: true, timeoutSeconds: broker.waitSeconds)
        if session.protocolLevel < 5 {
            // MQTT 3.1.1 acknowledges a publish the ACL drops: read the document back.
            let kept = try session.retainedMessage(topic, timeoutSeconds: min(broker.waitSeconds, 10))
            guard kept?.payload == bytes else {
                throw Failure("the broker did not keep the document on \(topic) (MQTT 3.1.1 cannot say it refused a publish): "
                              + "check that these credentials may publish there (the operator's certificate or user, not a device's)")
            }
        }
        if !json { print("published \(deployment.deploymentId) revision \(deployment.revision) to \(topic)") }
        if noWait {
            if json { printJSON(["topic": .string(topic), "deploymentId": .string(deployment.deploymentId), "revision": .int(Int64(deployment.revision))]) }
            return
        }
        if var progress {
            try follow(&progress, session: session, filter: TopicFilter(statusFilter)!)
            return
        }
        let answer = try session.waitFor(statusFilter, timeoutSeconds: broker.waitSeconds) { message in
            guard case .success(let status) = JSONCodec.parse(message.payload) else { return false }
            return status["deploymentId"]?.stringValue == deployment.deploymentId
                && status["revision"]?.intValue == Int64(deployment.revision)
                && GroupProgress.terminal.contains(status["status"]?.stringValue ?? "")
        }
        guard let answer, case .success(let status) = JSONCodec.parse(answer.payload) else {
            throw noAnswer("no final status from \(target.thing!) within \(broker.waitSeconds) s: is its agent running and connected? "
                           + "(edgectl health --thing \(target.thing!))")
        }
        if json {
            printJSON(["topic": .string(topic), "deploymentId": .string(deployment.deploymentId), "revision": .int(Int64(deployment.revision)),
                       "status": status])
        } else {
            printStatus(status)
        }
        if status["status"]?.stringValue != "SUCCEEDED" { throw ExitCode(1) }
    }

    /// Every member's status, live, until all have finished or the timeout; then the summary.
    private func follow(_ progress: inout GroupProgress, session: Session, filter: TopicFilter) throws {
        let group = progress.group
        let live = !json && isatty(1) == 1
        if !json {
            print("following \(progress.members.count) online member\(progress.members.count == 1 ? "" : "s") of group \(group)"
                  + (progress.offline.isEmpty ? "" : " (\(progress.offline.count) offline: they get it when they connect)"))
        }
        if progress.members.isEmpty && !json {
            print("no member of group \(group) is online (members are things whose health names the group): the document waits for them")
        }
        let deadline = Clock.monotonicMs() + Int64(broker.waitSeconds) * 1000
        if live { print(progress.bar(), terminator: "") }
        fflush(nil)
        while !progress.finished && Clock.monotonicMs() < deadline {
            let messages = session.gather(filter, quietMs: 100, deadlineMs: min(deadline, Clock.monotonicMs() + 500))
            var said: [String] = []
            for message in messages {
                let levels = message.topic.split(separator: "/", omittingEmptySubsequences: false)
                guard levels.count == 5, case .success(let status) = JSONCodec.parse(message.payload) else { continue }
                if let thing = progress.take(thing: String(levels[2]), status) { said.append(progress.line(for: thing)) }
            }
            guard !json else { continue }
            if live { print("\r\u{1B}[K", terminator: "") }
            for line in said { print(line) }
            if live { print(progress.bar(), terminator: "") }
            fflush(nil)
        }
        if live { print("") }
        if json {
            printJSON(progress.json)
        } else {
            print("\(progress.succeeded) of \(progress.members.count) online member\(progress.members.count == 1 ? "" : "s") of group \(group) SUCCEEDED"
                  + " with \(progress.deploymentId) revision \(progress.revision)")
            for failure in progress.failures { print("  \(progress.line(for: failure.thing))") }
            if !progress.offline.isEmpty { print("  offline, not waited for: \(progress.offline.joined(separator: ", "))") }
        }
        if !progress.failures.isEmpty {
            throw Failure("\(progress.failures.count) member\(progress.failures.count == 1 ? "" : "s") of group \(group) did not take the deployment: "
                          + progress.failures.map { "\($0.thing) \($0.entry.state)" }.joined(separator: ", ")
                          + " (edgectl status --thing THING says why)")
        }
        if !progress.waiting.isEmpty {
            throw noAnswer("\(progress.waiting.count) member\(progress.waiting.count == 1 ? "" : "s") of group \(group) had not finished within "
                           + "\(broker.waitSeconds) s: \(progress.waiting.prefix(20).joined(separator: ", "))"
                           + "\(progress.waiting.count > 20 ? ", …" : ""); give more time with --timeout, or watch with edgectl things --group \(group) --watch")
        }
    }

    /// What is retained on the topic must be an older revision, and a thing must exist.
    private func checkBeforePublishing(_ deployment: Deployment, topic: String, session: Session) throws {
        let wait = min(broker.waitSeconds, 10)
        if let retained = try session.retainedMessage(topic, timeoutSeconds: wait),
           let current = OperatorDocument.retained(retained.payload),
           let revision = current["revision"]?.intValue, revision >= deployment.revision {
            let id = current["deploymentId"]?.stringValue ?? "?"
            let fix = revision < Int64.max ? "Set \"revision\": \(revision + 1) in \(file)" : "Clear the topic first (edgectl undeploy)"
            throw Failure("revision \(deployment.revision) is not greater than revision \(revision) (\(id)) retained on \(topic): "
                          + "the agent would ignore or refuse it. \(fix); nothing was published")
        }
        if let thing = target.thing, !newThing, try session.retainedMessage(Topics(thing: thing).health, timeoutSeconds: wait) == nil {
            throw Failure("no agent named \(thing) has connected to this broker (no health report on \(Topics(thing: thing).health)): "
                          + "check the name (edgectl things), or deploy with --new-thing for a device that has not connected yet; "
                          + "nothing was published")
        }
    }
}

extension ValidationIssue {
    var json: JSONValue {
        var members: [String: JSONValue] = ["path": .string(path), "message": .string(message)]
        if let value { members["value"] = .string(value) }
        return .object(members)
    }
}

func printStatus(_ status: JSONValue) {
    let state = status["status"]?.stringValue ?? "?"
    let id = status["deploymentId"]?.stringValue ?? "(no id)"
    let revision = status["revision"]?.intValue.map { " revision \($0)" } ?? ""
    print("\(state): \(id)\(revision) on \(status["thing"]?.stringValue ?? "?")")
    if let reason = status["reason"]?.stringValue { print("  reason: \(reason)") }
    for error in status["errors"]?.arrayValue ?? [] {
        let value = error["value"]?.stringValue.map { " (got \($0))" } ?? ""
        print("  \(error["path"]?.stringValue ?? "?"): \(error["message"]?.stringValue ?? "")\(value)")
    }
    for (name, detail) in (status["functions"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
        let lastError = detail["lastError"]?.stringValue.map { " — \($0)" } ?? ""
        print("  \(name) \(detail["version"]?.stringValue ?? "") \(detail["state"]?.stringValue ?? "")\(lastError)")
    }
}

/// Clears a retained deployment, so the thing (or group) stops running what it named.
struct Undeploy: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Clear a thing's or group's retained deployment.",
        discussion: """
            The agent stops the functions that document named. An agent that trusts signing keys refuses an \
            unsigned clearing: with --key, a signed document that lists no function is published instead, as the \
            next revision of the one retained.

            Examples:
              edgectl undeploy --thing cam-01
              edgectl undeploy --group line1
              edgectl undeploy --thing cam-01 --key ops-2026.key
            """)
    @OptionGroup var target: TargetOptions
    @OptionGroup var broker: BrokerOptions
    @OptionGroup var signing: SigningOptions

    func run() throws {
        let topic = target.thing.map { Topics(thing: $0).deployment } ?? Topics.groupDeployment(target.group!)
        let key = try signing.key()
        let session = try Session(broker)
        defer { session.close() }
        guard let key else {
            try session.publishConfirmed(topic, [], retain: true, timeoutSeconds: broker.waitSeconds)
            print("cleared \(topic)")
            return
        }
        // The next revision after the newest this key signed on the topic (a retained envelope
        // whose signature verifies with it) and, for a thing, the newest its agent reports: the
        // revisions in force (`sources`) and that of its last status unless it was REJECTED (whose
        // revision is whatever the refused document claimed). Nothing anyone else published counts.
        let wait = min(broker.waitSeconds, 10)
        var newest: Int64 = 0
        let own = try key.publicKey()
        if let retained = try session.retainedMessage(topic, timeoutSeconds: wait),
           case .success(let document) = JSONCodec.parse(retained.payload), case .success(let envelope) = SignedEnvelope.parse(document),
           envelope.signatures.contains(where: { Ed25519.verify(publicKey: own, message: envelope.signedBytes, signature: $0.sig) }),
           case .success(let inner) = JSONCodec.parse(envelope.payload) {
            newest = inner["revision"]?.intValue ?? 0
        }
        if let thing = target.thing, let status = try session.retainedMessage(Topics(thing: thing).deploymentStatus, timeoutSeconds: wait),
           case .success(let document) = JSONCodec.parse(status.payload) {
            let inForce = (document["sources"]?.arrayValue ?? []).filter { $0["source"]?.stringValue == "thing" }.compactMap { $0["revision"]?.intValue }
            newest = max(newest, inForce.max() ?? 0)
            if document["status"]?.stringValue != "REJECTED", document["source"]?.stringValue == "thing" {
                newest = max(newest, document["revision"]?.intValue ?? 0)
            }
        }
        guard newest < Int64.max else { throw Failure("revision \(newest) is the largest there is: no later revision can be signed") }
        let revision = newest + 1
        let empty: JSONValue = ["deploymentId": .string("undeploy-r\(revision)"), "revision": .int(revision), "functions": [:],
                                "target": .string(target.deploymentTarget)]
        let document = OperatorDocument(deployment: empty, payload: Array(JSONCodec.text(empty).utf8))
        let envelope = try signing.sign(document, with: key)
        let statusTopic = target.thing.map { Topics(thing: $0).deploymentStatus }
        if let statusTopic { try session.subscribe(statusTopic, timeoutSeconds: broker.waitSeconds) }
        try session.publishConfirmed(topic, Array(JSONCodec.text(envelope.json).utf8), retain: true, timeoutSeconds: broker.waitSeconds)
        print("published undeploy-r\(revision) (no functions, signed by \(signing.keyid)) to \(topic)")
        guard let statusTopic else { return }
        let answer = try session.waitFor(statusTopic, timeoutSeconds: broker.waitSeconds) { message in
            guard case .success(let status) = JSONCodec.parse(message.payload) else { return false }
            return status["deploymentId"]?.stringValue == "undeploy-r\(revision)" && status["revision"]?.intValue == revision
                && GroupProgress.terminal.contains(status["status"]?.stringValue ?? "")
        }
        guard let answer, case .success(let status) = JSONCodec.parse(answer.payload) else {
            throw noAnswer("no final status from \(target.thing!) within \(broker.waitSeconds) s: is its agent running and connected?")
        }
        printStatus(status)
        if status["status"]?.stringValue != "SUCCEEDED" { throw ExitCode(1) }
    }
}

/// Prints a retained document of a thing: its deployment status.
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a thing's last deployment status.",
        discussion: """
            Examples:
              edgectl status --thing cam-01
              edgectl status --thing cam-01 --json
              edgectl things                          # every thing's, at once
            """)
    @Option(help: "The thing.") var thing: String
    @Flag(help: "Print the raw JSON.") var json = false
    @OptionGroup var broker: BrokerOptions

    func run() throws {
        let status = try retained(Topics(thing: thing).deploymentStatus, broker: broker, what: "deployment status")
        if json { printJSON(status) } else { printStatus(status) }
    }
}

/// Prints a thing's retained health report.
struct Health: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a thing's health report.",
        discussion: """
            Examples:
              edgectl health --thing cam-01
              edgectl health --thing cam-01 --json | jq .functions
            """)
    @Option(help: "The thing.") var thing: String
    @Flag(help: "Print the raw JSON.") var json = false
    @OptionGroup var broker: BrokerOptions

    func run() throws {
        let health = try retained(Topics(thing: thing).health, broker: broker, what: "health report")
        if json {
            printJSON(health)
            return
        }
        for line in HealthSummary.lines(thing: thing, health) { print(line) }
    }
}

func retained(_ topic: String, broker: BrokerOptions, what: String) throws -> JSONValue {
    let session = try Session(broker)
    defer { session.close() }
    guard let message = try session.retainedMessage(topic, timeoutSeconds: min(broker.waitSeconds, 5)) else {
        throw noAnswer("no \(what) on \(topic): has that thing's agent ever connected to this broker?")
    }
    guard case .success(let value) = JSONCodec.parse(message.payload) else { throw Failure("the \(what) on \(topic) is not JSON") }
    return value
}

/// Sends one event to a function and prints its answer and the round trip.
struct Invoke: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Invoke a function directly and print its answer.",
        discussion: """
            The event goes to edge/things/THING/functions/FUNCTION/invoke with "replyTo": \
            edgectl/replies/THING/ID, a topic the shipped ACL lets that device answer on (MQTT 3.1.1 brokers too). \
            Exits 1 when the answer is an error.

            Examples:
              edgectl invoke --thing cam-01 --function digits --event '{"pixels": [0, 0, 5]}'
              edgectl invoke --thing cam-01 --function digits --event @event.json --json
            """)
    @Option(help: "The thing.") var thing: String
    @Option(help: "The function.") var function: String
    @Option(help: "The event, as JSON, or @FILE to read it from a file.") var event = "{}"
    @Flag(help: "Print JSON: {\"result\": the answer, \"roundTripMs\": …}.") var json = false
    @OptionGroup var broker: BrokerOptions

    func run() throws {
        let text: String
        if event.hasPrefix("@") {
            text = String(decoding: try readJSON(String(event.dropFirst())).1, as: UTF8.self)
        } else {
            text = event
        }
        guard case .success(let parsed) = JSONCodec.parse(text) else {
            throw ValidationError("--event must be JSON, for example '{\"pixels\": [0, 1]}'")
        }
        let session = try Session(broker)
        defer { session.close() }
        let replyTopic = "edgectl/replies/\(thing)/\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 36))"
        try session.subscribe(replyTopic, timeoutSeconds: broker.waitSeconds)
        // The reply topic travels inside the event (`replyTo`), which works on MQTT 3.1.1 brokers too.
        var payload = Array(text.utf8)
        if case .object(var members) = parsed {
            members["replyTo"] = .string(replyTopic)
            payload = JSONCodec.serialize(.object(members))
        }
        let began = Clock.monotonicNs()
        try session.publishConfirmed(Topics(thing: thing).invoke(function: function), payload, retain: false,
                                     timeoutSeconds: broker.waitSeconds)
        guard let answer = try session.waitFor(replyTopic, timeoutSeconds: broker.waitSeconds, { _ in true }) else {
            throw noAnswer("no answer from \(function) on \(thing) within \(broker.waitSeconds) s: is its agent online and the "
                           + "function deployed? (edgectl things)")
        }
        let roundTripMs = Double((Clock.monotonicNs() - began) / 10_000) / 100
        let result = JSONCodec.parse(answer.payload)
        if json {
            let value: JSONValue = (try? result.get()) ?? .string(String(decoding: answer.payload, as: UTF8.self))
            printJSON(.object(["result": value, "roundTripMs": .double(roundTripMs)]))
        } else {
            print(String(decoding: answer.payload, as: UTF8.self))
            print("round trip \(roundTripMs) ms")
        }
        if case .success(let value) = result, value["status"]?.stringValue != "ok" { throw ExitCode(1) }
    }
}
