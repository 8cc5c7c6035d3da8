/// Caps for a function: the kernel enforces the first six, the agent the publish rates; nil means
/// "the agent's default", and the agent's default nil means "no cap" (for the publish rates, the
/// `PublishBudget` defaults).
public struct ResourceLimits: Sendable, Equatable {
    /// Memory of all the function's processes together, in MiB (cgroup memory controller).
    public var memoryMB: Int?
    /// CPU time per wall time, in cores: 0.25 is a quarter of one core (cgroup cpu controller).
    public var cpus: Double?
    /// Processes and threads of the function together (cgroup pids controller).
    public var pids: Int?
    /// Descriptors per process (RLIMIT_NOFILE).
    public var openFiles: Int?
    /// Largest file a process may write, in MiB (RLIMIT_FSIZE).
    public var fileSizeMB: Int?
    /// CPU seconds an on-demand instance may use in its life (RLIMIT_CPU).
    public var cpuSeconds: Int?
    /// Messages a second the function may publish itself (`PublishBudget`).
    public var publishPerSecond: Int?
    /// KiB a second the function may publish itself.
    public var publishKBPerSecond: Int?

    public init(memoryMB: Int? = nil, cpus: Double? = nil, pids: Int? = nil, openFiles: Int? = nil,
                fileSizeMB: Int? = nil, cpuSeconds: Int? = nil, publishPerSecond: Int? = nil, publishKBPerSecond: Int? = nil) {
        self.memoryMB = memoryMB
        self.cpus = cpus
        self.pids = pids
        self.openFiles = openFiles
        self.fileSizeMB = fileSizeMB
        self.cpuSeconds = cpuSeconds
        self.publishPerSecond = publishPerSecond
        self.publishKBPerSecond = publishKBPerSecond
    }

    /// These limits, with every unset one taken from `defaults`.
    public func over(_ defaults: ResourceLimits) -> ResourceLimits {
        ResourceLimits(memoryMB: memoryMB ?? defaults.memoryMB, cpus: cpus ?? defaults.cpus, pids: pids ?? defaults.pids,
                       openFiles: openFiles ?? defaults.openFiles, fileSizeMB: fileSizeMB ?? defaults.fileSizeMB,
                       cpuSeconds: cpuSeconds ?? defaults.cpuSeconds, publishPerSecond: publishPerSecond ?? defaults.publishPerSecond,
                       publishKBPerSecond: publishKBPerSecond ?? defaults.publishKBPerSecond)
    }

    /// The limits only a cgroup controller can enforce, by field name and controller.
    public var cgroupDemands: [(field: String, controller: String)] {
        var demands: [(String, String)] = []
        if memoryMB != nil { demands.append(("memoryMB", "memory")) }
        if cpus != nil { demands.append(("cpus", "cpu")) }
        if pids != nil { demands.append(("pids", "pids")) }
        return demands
    }

    public var isEmpty: Bool { self == ResourceLimits() }

    /// The limits as a JSON object, unset ones left out.
    public var json: JSONValue {
        var members: [String: JSONValue] = [:]
        if let memoryMB { members["memoryMB"] = .int(Int64(memoryMB)) }
        if let cpus { members["cpus"] = .double(cpus) }
        if let pids { members["pids"] = .int(Int64(pids)) }
        if let openFiles { members["openFiles"] = .int(Int64(openFiles)) }
        if let fileSizeMB { members["fileSizeMB"] = .int(Int64(fileSizeMB)) }
        if let cpuSeconds { members["cpuSeconds"] = .int(Int64(cpuSeconds)) }
        if let publishPerSecond { members["publishPerSecond"] = .int(Int64(publishPerSecond)) }
        if let publishKBPerSecond { members["publishKBPerSecond"] = .int(Int64(publishKBPerSecond)) }
        return .object(members)
    }

    /// Ranges every limit must be in, wherever it is written (deployment or agent configuration).
    public static let memoryRange: ClosedRange<Int64> = 16...1_048_576
    public static let cpusRange: ClosedRange<Double> = 0.01...1024
    public static let pidsRange: ClosedRange<Int64> = 1...65_536
    public static let openFilesRange: ClosedRange<Int64> = 16...1_048_576
    public static let fileSizeRange: ClosedRange<Int64> = 1...1_048_576
    public static let cpuSecondsRange: ClosedRange<Int64> = 1...86_400
    public static let publishPerSecondRange: ClosedRange<Int64> = 1...100_000
    public static let publishKBPerSecondRange: ClosedRange<Int64> = 1...1_048_576
    public static let fields = ["memoryMB", "cpus", "pids", "openFiles", "fileSizeMB", "cpuSeconds", "publishPerSecond", "publishKBPerSecond"]
}
