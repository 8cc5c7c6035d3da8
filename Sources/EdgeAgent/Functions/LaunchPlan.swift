#if canImport(Glibc)
import Glibc
#endif
import EdgeCgroups
import EdgeCore
import EdgePOSIX

/// What every function of this agent shares: the thing, the interpreters, where logs go, and
/// the cgroup subtree their instances get cgroups in.
struct FunctionHost {
    var thing: String
    var python: String
    /// The folder holding `edge_runtime.py`, or nil when none was found.
    var pythonRuntimeDir: String?
    var logDir: String
    /// nil when no cgroup can be used: functions then get rlimits only.
    var cgroups: CgroupTree?
    /// Whether the agent may raise the limits of a running process (CAP_SYS_RESOURCE).
    var mayLimitOtherUsers = false
    /// Where blocking work goes (cgroup kills and clean-up).
    var io: IOWorker
    /// The table of per-function uids; nil when functions do not get one each.
    var functionUids: FunctionUidStore?
}

/// Turns a function's spec and directory into the exact process to start: executable,
/// arguments, environment and limits; no shell is ever involved.
enum LaunchPlan {
    static let basePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// `own`: the uid of its own the function runs under, if it has one (FunctionFiles.prepare).
    static func request(for spec: FunctionSpec, directory: String, host: FunctionHost, own: OwnIdentity? = nil,
                        stdout: Int32, stderr: Int32, channel: Int32) throws(LaunchError) -> SpawnRequest {
        var environment: [String: String] = [
            "PATH": basePath, "LANG": "C.UTF-8", "HOME": own?.dataDir ?? "/tmp",
            "EDGE_RUNTIME_FD": "3", "EDGE_THING_NAME": host.thing, "EDGE_FUNCTION_NAME": spec.name,
            "EDGE_FUNCTION_VERSION": spec.version, "EDGE_FUNCTION_DIR": directory,
        ]
        if let own { environment["EDGE_FUNCTION_DATA_DIR"] = own.dataDir }
        let executable: String
        let arguments: [String]
        switch spec.entry {
        case .python(let handler):
            guard let runtime = host.pythonRuntimeDir else {
                throw LaunchError("the Python runtime (edge_runtime.py) was not found: set runtimeDir in the agent's configuration or pass --runtime-dir")
            }
            executable = host.python
            arguments = ["-m", "edge_runtime"]
            environment["PYTHONPATH"] = "\(runtime):\(directory)"
            environment["PYTHONUNBUFFERED"] = "1"
            environment["PYTHONDONTWRITEBYTECODE"] = "1"
            environment["EDGE_HANDLER"] = handler
        case .command(let argv):
            executable = argv[0].hasPrefix("/") ? argv[0] : "\(directory)/\(argv[0])"
            arguments = Array(argv.dropFirst())
        }
        for (key, value) in spec.environment { environment[key] = value }
        var request = SpawnRequest(
            executable: executable, arguments: arguments,
            environment: environment.keys.sorted().map { "\($0)=\(environment[$0]!)" },
            workingDirectory: directory, stdout: stdout, stderr: stderr, runtimeChannel: channel)
        request.rlimits = rlimits(for: spec, cpuBudgetByKernel: CPUBudget(spec: spec, mayLimitOtherUsers: host.mayLimitOtherUsers)?.byKernel ?? false)
        if let own, spec.user == nil {
            // Its own uid and group, no other group: a group-readable file of another function stays closed.
            request.identity = (own.uid, own.uid)
            request.groups = [own.uid]
            // What it creates (in /tmp too) is its own unless it says otherwise.
            request.umask = 0o077
        } else if let user = spec.user {
            guard let identity = Users.lookup(user) else {
                throw LaunchError("user '\(user)' does not exist on this device: create it or change functions.\(spec.name).user")
            }
            request.identity = identity
            request.groups = Users.groups(of: user, primary: identity.gid)
        } else if Users.isRoot {
            // Admission names the user of every function an agent running as root starts.
            throw LaunchError("function \(spec.name) has no user to run as; the agent never runs one as root unless told to")
        }
        return request
    }

    /// The rlimits applied before exec; memory, CPU share and pids are the cgroup's job.
    static func rlimits(for spec: FunctionSpec, cpuBudgetByKernel: Bool) -> [(resource: Int32, soft: UInt64, hard: UInt64)] {
        var limits: [(Int32, UInt64, UInt64)] = [(Int32(RLIMIT_CORE.rawValue), 0, 0)]
        let files = UInt64(spec.limits.openFiles ?? 1024)
        limits.append((Int32(RLIMIT_NOFILE.rawValue), files, files))
        if let megabytes = spec.limits.fileSizeMB {
            let bytes = UInt64(megabytes) << 20
            limits.append((Int32(RLIMIT_FSIZE.rawValue), bytes, bytes))
        }
        if let seconds = spec.limits.cpuSeconds, spec.lifecycle == .onDemand, cpuBudgetByKernel {
            limits.append((Int32(RLIMIT_CPU.rawValue), UInt64(seconds), UInt64(seconds) + 1))
        }
        return limits
    }
}

/// Why a function cannot be started at all (before any process exists).
struct LaunchError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) { self.description = description }
}
