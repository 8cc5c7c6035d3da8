/// How this agent runs functions: who they run as, what caps it can enforce, what the device has.
public struct FunctionHostPolicy: Sendable {
    /// Limits for every function, under the deployment's own.
    public var defaultLimits: ResourceLimits
    /// The user a function runs as when its spec names none (nil: the agent's own user, or a uid
    /// of its own when `functionUids` is set).
    public var defaultUser: String?
    /// The range a function with no user named (in its spec or `defaultUser`) gets a uid of its
    /// own from, when the agent is root; nil: off.
    public var functionUids: FunctionUidRange?
    public var allowRoot: Bool
    /// The agent's effective uid: only root can switch users.
    public var agentUid: UInt32
    public var capacity: DeviceCapacity
    /// The cgroup controllers the agent can use ("memory", "cpu", "pids"); empty when cgroups are off.
    public var controllers: Set<String>
    /// Why a controller is missing, for the rejection ("cgroups are off: not root").
    public var cgroupProblem: String?
    public var allowUncapped: Bool
    /// Why another user cannot reach the agent's state directory (function folders live there).
    public var stateDirProblem: String?
    /// Why another user cannot reach the Python interpreter or the runtime module.
    public var pythonProblem: String?

    public init(defaultLimits: ResourceLimits, defaultUser: String?, allowRoot: Bool, agentUid: UInt32,
                capacity: DeviceCapacity, controllers: Set<String>, cgroupProblem: String?, allowUncapped: Bool) {
        self.defaultLimits = defaultLimits
        self.defaultUser = defaultUser
        self.allowRoot = allowRoot
        self.agentUid = agentUid
        self.capacity = capacity
        self.controllers = controllers
        self.cgroupProblem = cgroupProblem
        self.allowUncapped = allowUncapped
    }
}

/// A function admitted to run: its limits with the defaults filled in, and its identity.
public struct FunctionAdmission: Sendable, Equatable {
    public var limits: ResourceLimits
    /// The user to switch to ("root" only when allowed), or nil to run as the agent's own user
    /// (when the agent is not root and cannot switch).
    public var user: String?
    public var uid: UInt32
    public var gid: UInt32
    /// Whether `uid` is the function's own (from `functions.uids`), gid = uid, no other groups.
    public var ownUid = false

    /// Checks a spec against the host: the user exists and is allowed, every limit fits the device
    /// and can be enforced. Returns every problem at once, each naming the field and the fix.
    public static func check(_ spec: FunctionSpec, policy: FunctionHostPolicy,
                             lookupUser: (String) -> (uid: UInt32, gid: UInt32)?,
                             assignUid: (String) -> Result<UInt32, FunctionUidProblem> = { _ in .failure("functions.uids is off") })
        -> Result<FunctionAdmission, DocumentRejection> {
        let path = "functions.\(spec.name)"
        var issues: [ValidationIssue] = []
        let limits = spec.limits.over(policy.defaultLimits)
        func limitField(_ field: String) -> String {
            spec.limitSource(field) == .deployment ? "\(path).limits.\(field)" : "agent configuration functions.limits.\(field)"
        }

        let capacity = policy.capacity
        if let memory = limits.memoryMB, memory > capacity.memoryMB {
            issues.append(ValidationIssue(path: limitField("memoryMB"), value: String(memory),
                                          message: "is more than this device has (\(capacity.memoryMB) MB): lower it"))
        }
        if let cpus = limits.cpus, cpus > Double(capacity.cpus) {
            issues.append(ValidationIssue(path: limitField("cpus"), value: String(cpus),
                                          message: "is more than this device has (\(capacity.cpus) online CPUs): lower it"))
        }
        if let pids = limits.pids, pids > capacity.pidMax {
            issues.append(ValidationIssue(path: limitField("pids"), value: String(pids),
                                          message: "is above the kernel's pid_max (\(capacity.pidMax)): lower it"))
        }
        if let files = limits.openFiles, files > capacity.openFilesMax {
            issues.append(ValidationIssue(path: limitField("openFiles"), value: String(files),
                                          message: "is above what this agent can grant (\(capacity.openFilesMax): the kernel's nr_open, or the agent's own hard limit when it is not root): lower it"))
        }
        if !policy.allowUncapped {
            for (field, controller) in limits.cgroupDemands where !policy.controllers.contains(controller) {
                let why = policy.cgroupProblem ?? "the cgroup \(controller) controller is not available"
                issues.append(ValidationIssue(
                    path: limitField(field), value: nil,
                    message: "needs the cgroup \(controller) controller, which this agent cannot use (\(why)); remove the limit, give the agent cgroups, or set cgroups.allowUncapped in the agent's configuration to run without it"))
            }
        }

        var admission = FunctionAdmission(limits: limits, user: nil, uid: policy.agentUid, gid: 0)
        let userName = spec.user ?? policy.defaultUser
        let userField = spec.user != nil ? "\(path).user" : "agent configuration functions.user"
        if let userName {
            if let identity = lookupUser(userName) {
                if identity.uid == 0 && !policy.allowRoot {
                    issues.append(ValidationIssue(path: userField, value: userName,
                                                  message: "would run the function as root; use an unprivileged user, or set functions.allowRoot in the agent's configuration"))
                } else if policy.agentUid != 0 && identity.uid != policy.agentUid {
                    issues.append(ValidationIssue(path: userField, value: userName,
                                                  message: "the agent runs as uid \(policy.agentUid) and cannot switch users; remove user, or run the agent as root"))
                } else {
                    admission.user = policy.agentUid == 0 ? userName : nil
                    admission.uid = identity.uid
                    admission.gid = identity.gid
                    if identity.uid != policy.agentUid {
                        issues += reachIssues(spec, policy: policy, field: userField, user: userName)
                    }
                }
            } else {
                issues.append(ValidationIssue(path: userField, value: userName,
                                              message: "no such user on this device; create it (useradd --system \(userName)) or name an existing user"))
            }
        } else if policy.agentUid == 0, let range = policy.functionUids {
            switch assignUid(spec.name) {
            case .success(let uid):
                admission.uid = uid
                admission.gid = uid
                admission.ownUid = true
                issues += reachIssues(spec, policy: policy, field: "agent configuration functions.uids", user: "uid \(uid)")
            case .failure(let refusal):
                issues.append(ValidationIssue(path: "agent configuration functions.uids", value: range.description, message: refusal.message))
            }
        } else if policy.agentUid == 0 && !policy.allowRoot {
            issues.append(ValidationIssue(path: "\(path).user", value: nil,
                                          message: "the function would run as root (the agent's user, and no default user is configured); name an unprivileged user, or set functions.allowRoot in the agent's configuration"))
        } else if policy.agentUid == 0 {
            // Allowed to run as root: said explicitly, so that a spec without a user never means root.
            admission.user = "root"
            admission.gid = 0
        }
        return issues.isEmpty ? .success(admission) : .failure(DocumentRejection(issues))
    }
}

extension FunctionAdmission {
    /// What keeps another user than the agent's from reaching the function's files or its Python.
    static func reachIssues(_ spec: FunctionSpec, policy: FunctionHostPolicy, field: String, user: String) -> [ValidationIssue] {
        var issues: [ValidationIssue] = []
        if let problem = policy.stateDirProblem {
            issues.append(ValidationIssue(path: field, value: user,
                                          message: "cannot reach the agent's stateDir, where the function's files are: \(problem); give others search (x) permission on it or choose another stateDir"))
        }
        if case .python = spec.entry, let problem = policy.pythonProblem {
            issues.append(ValidationIssue(path: "functions.\(spec.name).runtime", value: "python3",
                                          message: "user '\(user)' cannot run the agent's Python: \(problem); set python (or runtimeDir) in the agent's configuration to an interpreter every user can read"))
        }
        return issues
    }
}

extension FunctionSpec {
    enum LimitSource { case deployment, defaults }

    func limitSource(_ field: String) -> LimitSource {
        switch field {
        case "memoryMB": return limits.memoryMB != nil ? .deployment : .defaults
        case "cpus": return limits.cpus != nil ? .deployment : .defaults
        case "pids": return limits.pids != nil ? .deployment : .defaults
        case "openFiles": return limits.openFiles != nil ? .deployment : .defaults
        case "fileSizeMB": return limits.fileSizeMB != nil ? .deployment : .defaults
        default: return limits.cpuSeconds != nil ? .deployment : .defaults
        }
    }
}
