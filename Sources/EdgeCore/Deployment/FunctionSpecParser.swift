/// Validates one entry of a deployment's `functions` object.
enum FunctionSpecParser {
    static let fields = [
        "version", "runtime", "handler", "command", "artifacts", "lifecycle", "concurrency", "timeoutMs",
        "startTimeoutMs", "stopTimeoutMs", "idleTimeoutMs", "queueSize", "limits", "environment", "config",
        "subscriptions", "output", "publish", "user", "restart",
    ]
    static let runtimes = ["python3"]

    static func parse(_ value: JSONValue, name: String, at path: String, topics: Topics, reader: FieldReader) -> FunctionSpec? {
        guard let members = reader.object(value, at: path) else { return nil }
        let before = reader.issues.count
        func field(_ key: String) -> String { FieldReader.join(path, key) }
        reader.rejectUnknown(members, known: fields, at: path)

        let version = reader.string(reader.required(members, "version", at: path), at: field("version"), maxLength: 64) {
            NameRule.check($0, extra: "._+-", what: "a version", maxLength: 64)
        }
        let entry = parseEntry(members, at: path, reader: reader)
        let artifacts = ArtifactSpecParser.parseList(members["artifacts"], at: field("artifacts"), reader: reader)
        let lifecycle = reader.oneOf(members["lifecycle"], at: field("lifecycle"), ["long-lived", "on-demand"])
            .flatMap(FunctionSpec.Lifecycle.init(rawValue:)) ?? .longLived
        func int(_ key: String, _ range: ClosedRange<Int64>, _ fallback: Int) -> Int {
            reader.integer(members[key], at: field(key), range: range).map { Int($0) } ?? fallback
        }
        let concurrency = int("concurrency", 1...64, 1)
        let timeoutMs = int("timeoutMs", 1...900_000, 3000)
        let startTimeoutMs = int("startTimeoutMs", 100...600_000, 30_000)
        let stopTimeoutMs = int("stopTimeoutMs", 0...120_000, 3000)
        let idleTimeoutMs = int("idleTimeoutMs", 100...86_400_000, 60_000)
        let queueSize = int("queueSize", 1...100_000, 100)
        let limits = parseLimits(members["limits"], at: field("limits"), reader: reader)
        let environment = parseEnvironment(members["environment"], at: field("environment"), reader: reader)
        let config = reader.object(members["config"], at: field("config")) ?? [:]
        let configBytes = JSONValue.object(config).compactSize
        if configBytes > FunctionSpec.maxConfigBytes {
            reader.fail(field("config"), nil, "takes \(configBytes) bytes as JSON; at most \(FunctionSpec.maxConfigBytes): a config travels in every init line and in the classic shadow (8 KB for desired and reported together); put larger data in an artifact")
        }
        let subscriptions = parseSubscriptions(members["subscriptions"], at: field("subscriptions"), reader: reader)
        let output = parseOutput(members["output"], at: field("output"), function: name, topics: topics, reader: reader)
        if let output {
            for (index, subscription) in subscriptions.enumerated() {
                if let problem = TopicConfinement.subscriptionProblem(subscription.filter, topics: topics, output: output.topic) {
                    reader.fail("\(field("subscriptions"))[\(index)].topic", .string(subscription.filter.text), problem)
                }
            }
        }
        let publish = parseFilters(members["publish"], at: field("publish"), topics: topics, reader: reader)
        let user = reader.string(members["user"], at: field("user"), maxLength: 32) {
            NameRule.check($0, extra: "._-", what: "a user name", maxLength: 32)
        }
        let restart = parseRestart(members["restart"], at: field("restart"), reader: reader)

        guard reader.issues.count == before, let version, let entry, let output else { return nil }
        return FunctionSpec(
            name: name, version: version, entry: entry, artifacts: artifacts, lifecycle: lifecycle,
            concurrency: concurrency, timeoutMs: timeoutMs, startTimeoutMs: startTimeoutMs,
            stopTimeoutMs: stopTimeoutMs, idleTimeoutMs: idleTimeoutMs, queueSize: queueSize, limits: limits,
            environment: environment, config: config, subscriptions: subscriptions, output: output,
            publish: publish, user: user, restart: restart)
    }

    static func parseEntry(_ members: [String: JSONValue], at path: String, reader: FieldReader) -> FunctionSpec.Entry? {
        let hasCommand = members["command"] != nil
        let hasRuntime = members["runtime"] != nil || members["handler"] != nil
        if hasCommand && hasRuntime {
            reader.fail(path, nil, "give either \"command\" (a native executable) or \"runtime\" + \"handler\", not both")
            return nil
        }
        if hasCommand {
            let commandPath = FieldReader.join(path, "command")
            guard let items = reader.array(members["command"], at: commandPath, maxCount: 256) else { return nil }
            if items.isEmpty { reader.fail(commandPath, members["command"], "must name the executable first"); return nil }
            // Every item is checked, so one rejection lists every bad one.
            var argv: [String] = []
            for (index, item) in items.enumerated() {
                let itemPath = "\(commandPath)[\(index)]"
                guard let text = item.stringValue else { reader.fail(itemPath, item, "must be a string"); continue }
                if text.contains("\u{0}") { reader.fail(itemPath, nil, "cannot contain a NUL character"); continue }
                if index == 0 && (text.isEmpty || RelativePath.problem(in: text, allowAbsolute: true) != nil) {
                    reader.fail(itemPath, item, "must be an absolute path or a path inside the function's directory without '..'")
                    continue
                }
                argv.append(text)
            }
            return argv.count == items.count ? .command(argv) : nil
        }
        guard members["runtime"] != nil else {
            reader.fail(FieldReader.join(path, "runtime"), nil,
                        "is required: give \"runtime\": \"python3\" with a \"handler\", or a native \"command\"")
            return nil
        }
        // The handler is checked even when the runtime is wrong, so both problems are reported at once.
        let runtime = reader.oneOf(members["runtime"], at: FieldReader.join(path, "runtime"), runtimes)
        let handlerPath = FieldReader.join(path, "handler")
        guard let handler = reader.string(reader.required(members, "handler", at: path), at: handlerPath, maxLength: 256, rule: {
            let parts = $0.split(separator: ".", omittingEmptySubsequences: false)
            if parts.count < 2 { return "must be module.function, for example classifier.handler" }
            for part in parts where NameRule.check(String(part), extra: "_", what: "a handler part", maxLength: 128) != nil
                || part.first?.isNumber == true {
                return "each part of module.function must be a Python identifier"
            }
            return nil
        }), runtime != nil else { return nil }
        return .python(handler: handler)
    }

    static func parseLimits(_ value: JSONValue?, at path: String, reader: FieldReader) -> ResourceLimits {
        var limits = ResourceLimits()
        guard let members = reader.object(value, at: path) else { return limits }
        reader.rejectUnknown(members, known: ResourceLimits.fields, at: path)
        func int(_ key: String, _ range: ClosedRange<Int64>) -> Int? {
            reader.integer(members[key], at: FieldReader.join(path, key), range: range).map { Int($0) }
        }
        limits.memoryMB = int("memoryMB", ResourceLimits.memoryRange)
        limits.cpus = reader.number(members["cpus"], at: FieldReader.join(path, "cpus"), range: ResourceLimits.cpusRange)
        limits.pids = int("pids", ResourceLimits.pidsRange)
        limits.openFiles = int("openFiles", ResourceLimits.openFilesRange)
        limits.fileSizeMB = int("fileSizeMB", ResourceLimits.fileSizeRange)
        limits.cpuSeconds = int("cpuSeconds", ResourceLimits.cpuSecondsRange)
        limits.publishPerSecond = int("publishPerSecond", ResourceLimits.publishPerSecondRange)
        limits.publishKBPerSecond = int("publishKBPerSecond", ResourceLimits.publishKBPerSecondRange)
        return limits
    }

    static func parseEnvironment(_ value: JSONValue?, at path: String, reader: FieldReader) -> [String: String] {
        guard let members = reader.object(value, at: path) else { return [:] }
        var environment: [String: String] = [:]
        for key in members.keys.sorted() {
            let keyPath = FieldReader.join(path, key)
            if let problem = NameRule.check(key, extra: "_", what: "a variable name", maxLength: 128) {
                reader.fail(keyPath, .string(key), problem)
                continue
            }
            if key.first!.isNumber { reader.fail(keyPath, .string(key), "a variable name cannot start with a digit"); continue }
            if key.hasPrefix("EDGE_") { reader.fail(keyPath, nil, "EDGE_ variables are set by the agent; choose another name"); continue }
            guard let text = members[key]!.stringValue else {
                reader.fail(keyPath, members[key], "must be a string (quote numbers)")
                continue
            }
            if text.contains("\u{0}") { reader.fail(keyPath, nil, "cannot contain a NUL character"); continue }
            environment[key] = text
        }
        return environment
    }

    static func parseSubscriptions(_ value: JSONValue?, at path: String, reader: FieldReader) -> [FunctionSpec.Subscription] {
        guard let items = reader.array(value, at: path, maxCount: 64) else { return [] }
        var result: [FunctionSpec.Subscription] = []
        for (index, item) in items.enumerated() {
            let itemPath = "\(path)[\(index)]"
            guard let members = reader.object(item, at: itemPath) else { continue }
            reader.rejectUnknown(members, known: ["topic", "qos"], at: itemPath)
            let topic = reader.string(reader.required(members, "topic", at: itemPath), at: "\(itemPath).topic", rule: TopicFilter.problem(in:))
            let qos = reader.integer(members["qos"], at: "\(itemPath).qos", range: 0...1) ?? 1
            if let topic, let filter = TopicFilter(topic) { result.append(.init(filter: filter, qos: Int(qos))) }
        }
        return result
    }

    static func parseOutput(_ value: JSONValue?, at path: String, function: String, topics: Topics, reader: FieldReader)
        -> FunctionSpec.Output?
    {
        var output = FunctionSpec.Output(topic: topics.results(function: function), qos: 1)
        guard let members = reader.object(value, at: path) else { return value == nil ? output : nil }
        reader.rejectUnknown(members, known: ["topic", "qos"], at: path)
        if let topic = reader.string(members["topic"], at: "\(path).topic", rule: { TopicName.problem(in: $0) }) {
            output.topic = topics.expand(topic).replacingAll("{function}", with: function)
        }
        if let qos = reader.integer(members["qos"], at: "\(path).qos", range: 0...1) { output.qos = Int(qos) }
        return output
    }

    static func parseFilters(_ value: JSONValue?, at path: String, topics: Topics, reader: FieldReader) -> [TopicFilter] {
        guard let items = reader.array(value, at: path, maxCount: 64) else { return [] }
        var result: [TopicFilter] = []
        for (index, item) in items.enumerated() {
            let itemPath = "\(path)[\(index)]"
            if let text = reader.string(item, at: itemPath, rule: { TopicFilter.problem(in: topics.expand($0)) }),
               let filter = TopicFilter(topics.expand(text)) {
                result.append(filter)
            }
        }
        return result
    }

    static func parseRestart(_ value: JSONValue?, at path: String, reader: FieldReader) -> RestartPolicy {
        var policy = RestartPolicy(maxFailures: 3, backoffMs: 500, maxBackoffMs: 30_000)
        guard let members = reader.object(value, at: path) else { return policy }
        reader.rejectUnknown(members, known: ["maxFailures", "backoffMs", "maxBackoffMs"], at: path)
        if let number = reader.integer(members["maxFailures"], at: "\(path).maxFailures", range: 1...1000) { policy.maxFailures = Int(number) }
        if let number = reader.integer(members["backoffMs"], at: "\(path).backoffMs", range: 0...600_000) { policy.backoffMs = Int(number) }
        if let number = reader.integer(members["maxBackoffMs"], at: "\(path).maxBackoffMs", range: 0...3_600_000) {
            policy.maxBackoffMs = Int(number)
        }
        return policy
    }
}
