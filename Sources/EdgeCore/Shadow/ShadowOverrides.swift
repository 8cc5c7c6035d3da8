/// What the classic shadow's `desired` asks of the agent: its log level and health interval,
/// and per function whether it runs, configuration overrides and tighter limits. Keys other
/// than `agent` and `functions` belong to others and are left alone.
public struct ShadowOverrides: Sendable, Equatable {
    public struct Function: Sendable, Equatable {
        public var enabled: Bool?
        /// Keys that replace the deployment's `config` keys of the same name.
        public var config: [String: JSONValue] = [:]
        /// Limits that replace the deployment's, which they may only tighten.
        public var limits = ResourceLimits()

        public init() {}
    }

    public var logLevel: LogLevel?
    public var healthIntervalSeconds: Int?
    public var functions: [String: Function] = [:]
    /// Why a desired key cannot be applied, by its path in `desired` ("functions.digits.limits.memoryMB").
    public var problems: [String: String] = [:]

    public init() {}

    public static let healthIntervalRange: ClosedRange<Int64> = 1...86_400
    static let agentKeys = ["logLevel", "healthIntervalSeconds"]
    static let functionKeys = ["enabled", "config", "limits"]

    /// Reads the classic shadow's desired section; what cannot be read becomes a problem and is skipped.
    public init(desired: [String: JSONValue]?) {
        let reader = FieldReader()
        if let agent = reader.object(desired?["agent"], at: "agent") {
            reader.rejectUnknown(agent, known: Self.agentKeys, at: "agent")
            if let level = reader.oneOf(agent["logLevel"], at: "agent.logLevel", LogLevel.allCases.map(\.name)) {
                logLevel = LogLevel(name: level)
            }
            healthIntervalSeconds = reader.integer(agent["healthIntervalSeconds"], at: "agent.healthIntervalSeconds",
                                                   range: Self.healthIntervalRange).map { Int($0) }
        }
        for (name, value) in reader.object(desired?["functions"], at: "functions") ?? [:] {
            let path = "functions.\(name)"
            guard let members = reader.object(value, at: path) else { continue }
            reader.rejectUnknown(members, known: Self.functionKeys, at: path)
            var function = Function()
            function.enabled = reader.bool(members["enabled"], at: "\(path).enabled")
            function.config = reader.object(members["config"], at: "\(path).config") ?? [:]
            if members["limits"] != nil {
                function.limits = FunctionSpecParser.parseLimits(members["limits"], at: "\(path).limits", reader: reader)
            }
            functions[name] = function
        }
        for issue in reader.issues { problems[issue.path] = issue.value.map { "\(issue.message) (got \($0))" } ?? issue.message }
    }

    /// `spec` with this shadow's overrides for it: enabled, config keys replaced, limits
    /// tightened. `ceiling` is what the deployment (with the agent's defaults) allows; a limit
    /// above it is not applied and comes back as a problem.
    public func apply(to spec: FunctionSpec, ceiling: ResourceLimits) -> (spec: FunctionSpec, problems: [String: String]) {
        guard let function = functions[spec.name] else { return (spec, [:]) }
        var result = spec
        var problems: [String: String] = [:]
        if let enabled = function.enabled { result.enabled = enabled }
        for (key, value) in function.config { result.config[key] = value }
        let path = "functions.\(spec.name).limits"
        func tighten<T: Comparable>(_ field: String, _ wanted: T?, _ allowed: T?, _ set: (inout ResourceLimits, T) -> Void) {
            guard let wanted else { return }
            if let allowed, wanted > allowed {
                problems["\(path).\(field)"] = "is above what the deployment allows (\(allowed)); a shadow may only lower a limit"
                return
            }
            set(&result.limits, wanted)
        }
        let wanted = function.limits
        tighten("memoryMB", wanted.memoryMB, ceiling.memoryMB) { $0.memoryMB = $1 }
        tighten("cpus", wanted.cpus, ceiling.cpus) { $0.cpus = $1 }
        tighten("pids", wanted.pids, ceiling.pids) { $0.pids = $1 }
        tighten("openFiles", wanted.openFiles, ceiling.openFiles) { $0.openFiles = $1 }
        tighten("fileSizeMB", wanted.fileSizeMB, ceiling.fileSizeMB) { $0.fileSizeMB = $1 }
        tighten("cpuSeconds", wanted.cpuSeconds, ceiling.cpuSeconds) { $0.cpuSeconds = $1 }
        // Unset publish rates are the agent's defaults, not "no cap".
        tighten("publishPerSecond", wanted.publishPerSecond, ceiling.publishPerSecond ?? PublishBudget.defaultMessagesPerSecond) {
            $0.publishPerSecond = $1
        }
        tighten("publishKBPerSecond", wanted.publishKBPerSecond, ceiling.publishKBPerSecond ?? PublishBudget.defaultKBPerSecond) {
            $0.publishKBPerSecond = $1
        }
        return (result, problems)
    }

    /// Overrides for functions that are not deployed, as problems.
    public func unknownFunctions(deployed: Set<String>) -> [String: String] {
        var problems: [String: String] = [:]
        for name in functions.keys where !deployed.contains(name) {
            problems["functions.\(name)"] = "no function named \(name) is deployed on this thing; deploy it first, or remove the key with null"
        }
        return problems
    }
}
