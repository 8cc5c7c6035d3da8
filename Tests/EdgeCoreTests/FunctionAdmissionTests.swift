import Testing
@testable import EdgeCore

/// A small device: 1 GiB, 4 CPUs, a 32-bit-era pid_max, a low nr_open.
private let device = DeviceCapacity(memoryMB: 1024, cpus: 4, pidMax: 32_768, openFilesMax: 524_288)

/// The users this fake device has: name → (uid, gid).
private let knownUsers: [String: (uid: UInt32, gid: UInt32)] = [
    "root": (0, 0), "toor": (0, 0), "edgefn": (999, 998), "pi": (1000, 1000),
]

private func lookup(_ name: String) -> (uid: UInt32, gid: UInt32)? { knownUsers[name] }

private func hostPolicy(agentUid: UInt32 = 0, defaultUser: String? = "edgefn", allowRoot: Bool = false,
                        defaults: ResourceLimits = ResourceLimits(),
                        controllers: Set<String> = ["memory", "cpu", "pids"], cgroupProblem: String? = nil,
                        allowUncapped: Bool = false, stateDirProblem: String? = nil,
                        pythonProblem: String? = nil) -> FunctionHostPolicy {
    var policy = FunctionHostPolicy(defaultLimits: defaults, defaultUser: defaultUser, allowRoot: allowRoot, agentUid: agentUid,
                                    capacity: device, controllers: controllers, cgroupProblem: cgroupProblem,
                                    allowUncapped: allowUncapped)
    policy.stateDirProblem = stateDirProblem
    policy.pythonProblem = pythonProblem
    return policy
}

/// The spec of function `a` parsed from `fields`, checked against `policy`.
private func check(_ fields: JSONValue, _ policy: FunctionHostPolicy) throws -> Result<FunctionAdmission, DocumentRejection> {
    let parsed = try #require(spec(fields))
    return FunctionAdmission.check(parsed, policy: policy, lookupUser: lookup)
}

private func admitted(_ fields: JSONValue, _ policy: FunctionHostPolicy) throws -> FunctionAdmission {
    switch try check(fields, policy) {
    case .success(let admission): return admission
    case .failure(let rejection):
        Issue.record("rejected: \(rejection)")
        throw rejection
    }
}

private func rejected(_ fields: JSONValue, _ policy: FunctionHostPolicy) throws -> [ValidationIssue] {
    switch try check(fields, policy) {
    case .success(let admission):
        Issue.record("admitted: \(admission)")
        return []
    case .failure(let rejection): return rejection.issues
    }
}

private func limited(_ limits: JSONValue, _ more: [String: JSONValue] = [:]) -> JSONValue {
    var set = more
    set["limits"] = limits
    return function(set)
}

@Suite struct FunctionAdmissionCapacityTests {
    @Test func limitsWithinTheDeviceAreAdmittedWithTheDefaultsFilledIn() throws {
        let admission = try admitted(limited(["memoryMB": 1024, "pids": 100]),
                                     hostPolicy(defaults: ResourceLimits(memoryMB: 64, cpus: 0.5, openFiles: 256)))
        #expect(admission.limits == ResourceLimits(memoryMB: 1024, cpus: 0.5, pids: 100, openFiles: 256))
    }

    @Test func memoryAboveTheDeviceNamesTheDeploymentField() throws {
        let found = try rejected(limited(["memoryMB": 2048]), hostPolicy())
        #expect(found == [ValidationIssue(path: "functions.a.limits.memoryMB", value: "2048",
                                          message: "is more than this device has (1024 MB): lower it")])
    }

    @Test func memoryAboveTheDeviceFromTheDefaultsNamesTheAgentConfiguration() throws {
        let found = try rejected(function(), hostPolicy(defaults: ResourceLimits(memoryMB: 4096)))
        #expect(found == [ValidationIssue(path: "agent configuration functions.limits.memoryMB", value: "4096",
                                          message: "is more than this device has (1024 MB): lower it")])
    }

    @Test func deploymentLimitBelowADefaultAboveTheDeviceIsAdmitted() throws {
        let admission = try admitted(limited(["memoryMB": 128]), hostPolicy(defaults: ResourceLimits(memoryMB: 4096)))
        #expect(admission.limits.memoryMB == 128)
    }

    @Test func cpusAboveTheOnlineCPUs() throws {
        let found = try rejected(limited(["cpus": 4.5]), hostPolicy())
        #expect(found == [ValidationIssue(path: "functions.a.limits.cpus", value: "4.5",
                                          message: "is more than this device has (4 online CPUs): lower it")])
        #expect(try admitted(limited(["cpus": 4]), hostPolicy()).limits.cpus == 4)
    }

    @Test func pidsAbovePidMax() throws {
        let found = try rejected(limited(["pids": 40_000]), hostPolicy())
        #expect(found == [ValidationIssue(path: "functions.a.limits.pids", value: "40000",
                                          message: "is above the kernel's pid_max (32768): lower it")])
        #expect(try admitted(limited(["pids": 32_768]), hostPolicy()).limits.pids == 32_768)
    }

    @Test func openFilesAboveNrOpenFromTheDefaults() throws {
        let found = try rejected(function(), hostPolicy(defaults: ResourceLimits(openFiles: 1_048_576)))
        #expect(found == [ValidationIssue(path: "agent configuration functions.limits.openFiles", value: "1048576",
                                          message: "is above what this agent can grant (524288: the kernel's nr_open, or the agent's own hard limit when it is not root): lower it")])
    }

    @Test func rlimitOnlyLimitsNeedNoController() throws {
        let admission = try admitted(limited(["openFiles": 64, "fileSizeMB": 1, "cpuSeconds": 10]),
                                     hostPolicy(controllers: [], cgroupProblem: "cgroups are off"))
        #expect(admission.limits == ResourceLimits(openFiles: 64, fileSizeMB: 1, cpuSeconds: 10))
    }
}

@Suite struct FunctionAdmissionControllerTests {
    @Test func everyLimitWithoutItsControllerIsNamed() throws {
        let found = try rejected(limited(["memoryMB": 64, "cpus": 0.5, "pids": 10]),
                                 hostPolicy(controllers: [], cgroupProblem: "cgroups are off: not root"))
        #expect(paths(found) == ["functions.a.limits.memoryMB", "functions.a.limits.cpus", "functions.a.limits.pids"])
        #expect(found.allSatisfy { $0.message.contains("allowUncapped") })
        #expect(found.allSatisfy { $0.message.contains("(cgroups are off: not root)") })
        #expect(found.map(\.value) == [nil, nil, nil])
        #expect(found[0].message.hasPrefix("needs the cgroup memory controller"))
        #expect(found[1].message.hasPrefix("needs the cgroup cpu controller"))
        #expect(found[2].message.hasPrefix("needs the cgroup pids controller"))
    }

    @Test func onlyTheMissingControllerIsNamed() throws {
        let found = try rejected(limited(["memoryMB": 64, "cpus": 0.5, "pids": 10]), hostPolicy(controllers: ["memory", "cpu"]))
        #expect(paths(found) == ["functions.a.limits.pids"])
        #expect(found.first?.message.contains("the cgroup pids controller is not available") == true)
        #expect(found.first?.message.contains("cgroups.allowUncapped") == true)
    }

    @Test func aDefaultLimitWithoutItsControllerNamesTheAgentConfiguration() throws {
        let found = try rejected(function(), hostPolicy(defaults: ResourceLimits(memoryMB: 256), controllers: ["cpu", "pids"]))
        #expect(paths(found) == ["agent configuration functions.limits.memoryMB"])
        #expect(found.first?.message.contains("allowUncapped") == true)
    }

    @Test func allowUncappedAdmitsLimitsNoControllerEnforces() throws {
        let admission = try admitted(limited(["memoryMB": 64, "cpus": 0.5, "pids": 10]),
                                     hostPolicy(controllers: [], cgroupProblem: "cgroups are off", allowUncapped: true))
        #expect(admission.limits == ResourceLimits(memoryMB: 64, cpus: 0.5, pids: 10))
    }

    @Test func allowUncappedDoesNotExcuseCapacity() throws {
        let found = try rejected(limited(["memoryMB": 4096]), hostPolicy(controllers: [], allowUncapped: true))
        #expect(paths(found) == ["functions.a.limits.memoryMB"])
        #expect(found.first?.message.contains("more than this device has") == true)
    }

    @Test func noLimitsNeedNoControllers() throws {
        let admission = try admitted(function(), hostPolicy(controllers: [], cgroupProblem: "cgroups are off"))
        #expect(admission.limits.isEmpty)
    }
}

@Suite struct FunctionAdmissionUserTests {
    @Test func rootAgentSwitchesToTheDefaultUser() throws {
        let admission = try admitted(function(), hostPolicy(defaultUser: "edgefn"))
        #expect(admission == FunctionAdmission(limits: ResourceLimits(), user: "edgefn", uid: 999, gid: 998))
    }

    @Test func theSpecsUserWinsOverTheDefault() throws {
        let admission = try admitted(function(["user": "pi"]), hostPolicy(defaultUser: "edgefn"))
        #expect(admission.user == "pi")
        #expect(admission.uid == 1000)
        #expect(admission.gid == 1000)
    }

    @Test func missingUserInTheSpecNamesItsFieldWithAHint() throws {
        let found = try rejected(function(["user": "ghost"]), hostPolicy())
        #expect(found == [ValidationIssue(path: "functions.a.user", value: "ghost",
                                          message: "no such user on this device; create it (useradd --system ghost) or name an existing user")])
    }

    @Test func missingDefaultUserNamesTheAgentConfiguration() throws {
        let found = try rejected(function(), hostPolicy(defaultUser: "edgefn-missing"))
        #expect(paths(found) == ["agent configuration functions.user"])
        #expect(found.first?.value == "edgefn-missing")
        #expect(found.first?.message.contains("useradd --system edgefn-missing") == true)
    }

    @Test(arguments: ["root", "toor"])
    func uidZeroIsRejectedUnlessAllowed(_ user: String) throws {
        let found = try rejected(function(["user": .string(user)]), hostPolicy())
        #expect(paths(found) == ["functions.a.user"])
        #expect(found.first?.value == user)
        #expect(found.first?.message.contains("would run the function as root") == true)
        #expect(found.first?.message.contains("functions.allowRoot") == true)

        let admission = try admitted(function(["user": .string(user)]), hostPolicy(allowRoot: true))
        #expect(admission.user == user)
        #expect(admission.uid == 0)
    }

    @Test func rootAsTheDefaultUserNamesTheAgentConfiguration() throws {
        let found = try rejected(function(), hostPolicy(defaultUser: "root"))
        #expect(paths(found) == ["agent configuration functions.user"])
    }

    @Test func rootAgentWithNoUserAnywhereIsRejected() throws {
        let found = try rejected(function(), hostPolicy(agentUid: 0, defaultUser: nil))
        #expect(paths(found) == ["functions.a.user"])
        #expect(found.first?.value == nil)
        #expect(found.first?.message.contains("would run as root") == true)
        #expect(found.first?.message.contains("functions.allowRoot") == true)
    }

    @Test func rootAgentWithNoUserRunsAsRootWhenRootIsAllowedAndSaysSo() throws {
        // Said explicitly: a spec without a user never silently means root.
        let admission = try admitted(function(), hostPolicy(agentUid: 0, defaultUser: nil, allowRoot: true))
        #expect(admission.user == "root")
        #expect(admission.uid == 0)
        #expect(admission.gid == 0)
    }

    @Test func unprivilegedAgentCannotSwitchToAnotherUser() throws {
        let found = try rejected(function(["user": "edgefn"]), hostPolicy(agentUid: 1000))
        #expect(found == [ValidationIssue(path: "functions.a.user", value: "edgefn",
                                          message: "the agent runs as uid 1000 and cannot switch users; remove user, or run the agent as root")])
    }

    @Test func unprivilegedAgentCannotUseADefaultUserOfAnotherUid() throws {
        let found = try rejected(function(), hostPolicy(agentUid: 1000, defaultUser: "edgefn"))
        #expect(paths(found) == ["agent configuration functions.user"])
        #expect(found.first?.message.contains("cannot switch users") == true)
    }

    @Test func unprivilegedAgentNamingItsOwnUserDoesNotSwitch() throws {
        let admission = try admitted(function(["user": "pi"]), hostPolicy(agentUid: 1000))
        #expect(admission.user == nil)
        #expect(admission.uid == 1000)
        #expect(admission.gid == 1000)
    }

    @Test func unprivilegedAgentWithoutUsersRunsAsItself() throws {
        let admission = try admitted(function(), hostPolicy(agentUid: 1000, defaultUser: nil))
        #expect(admission.user == nil)
        #expect(admission.uid == 1000)
    }
}

@Suite struct FunctionAdmissionReachTests {
    @Test func anotherUserThatCannotReachTheStateDirIsRejected() throws {
        let found = try rejected(function(), hostPolicy(stateDirProblem: "/var/lib/edge-agent is mode 0700"))
        #expect(paths(found) == ["agent configuration functions.user"])
        #expect(found.first?.value == "edgefn")
        #expect(found.first?.message.contains("/var/lib/edge-agent is mode 0700") == true)
        #expect(found.first?.message.contains("stateDir") == true)
    }

    @Test func theSpecsUserIsNamedForTheStateDirProblem() throws {
        let found = try rejected(function(["user": "pi"]), hostPolicy(stateDirProblem: "no search permission"))
        #expect(paths(found) == ["functions.a.user"])
    }

    @Test func anotherUserThatCannotRunPythonIsRejectedForPythonEntries() throws {
        let found = try rejected(function(), hostPolicy(pythonProblem: "/root/.venv is mode 0700"))
        #expect(found.count == 1)
        #expect(found.first?.path == "functions.a.runtime")
        #expect(found.first?.value == "python3")
        #expect(found.first?.message.contains("user 'edgefn'") == true)
        #expect(found.first?.message.contains("/root/.venv is mode 0700") == true)
    }

    @Test func pythonProblemDoesNotConcernCommands() throws {
        let admission = try admitted(commandFunction(["/usr/bin/true"]), hostPolicy(pythonProblem: "/root/.venv is mode 0700"))
        #expect(admission.user == "edgefn")
    }

    @Test func bothReachProblemsAreReported() throws {
        let found = try rejected(function(), hostPolicy(stateDirProblem: "s", pythonProblem: "p"))
        #expect(paths(found) == ["agent configuration functions.user", "functions.a.runtime"])
    }

    @Test func theAgentsOwnUserHasNoReachProblems() throws {
        // Root running functions as root, and an unprivileged agent running them as itself.
        let asRoot = try admitted(function(["user": "root"]),
                                  hostPolicy(allowRoot: true, stateDirProblem: "s", pythonProblem: "p"))
        #expect(asRoot.uid == 0)
        let asItself = try admitted(function(["user": "pi"]), hostPolicy(agentUid: 1000, stateDirProblem: "s", pythonProblem: "p"))
        #expect(asItself.uid == 1000)
        let noUser = try admitted(function(), hostPolicy(agentUid: 1000, defaultUser: nil, stateDirProblem: "s", pythonProblem: "p"))
        #expect(noUser.user == nil)
    }
}

@Suite struct FunctionAdmissionManyProblemsTests {
    @Test func everyProblemIsReportedAtOnce() throws {
        let found = try rejected(limited(["memoryMB": 2048, "cpus": 0.5], ["user": "ghost"]),
                                 hostPolicy(defaults: ResourceLimits(pids: 50_000), controllers: ["memory"]))
        #expect(paths(found) == [
            "functions.a.limits.memoryMB",
            "agent configuration functions.limits.pids",
            "functions.a.limits.cpus",
            "agent configuration functions.limits.pids",
            "functions.a.user",
        ])
        #expect(found[1].message.contains("pid_max"))
        #expect(found[3].message.contains("needs the cgroup pids controller"))
    }

    @Test func userAndReachProblemsStackWithLimitProblems() throws {
        let found = try rejected(limited(["cpus": 8]), hostPolicy(stateDirProblem: "s", pythonProblem: "p"))
        #expect(paths(found) == ["functions.a.limits.cpus", "agent configuration functions.user", "functions.a.runtime"])
    }
}
