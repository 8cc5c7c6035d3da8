#if canImport(Glibc)
import Glibc
#endif
import CEdgeSpawn

/// A process to start: a value, prepared entirely before the fork. Its descriptors are numbers
/// it borrows: their owners (`FileDescriptor`s) keep them open until `spawn` or `start` returns,
/// then close the child's ends.
public struct SpawnRequest: Sendable {
    public var executable: String
    public var arguments: [String]
    public var environment: [String]
    public var workingDirectory: String?
    /// Becomes the child's fd 1.
    public var stdout: CInt
    /// Becomes the child's fd 2.
    public var stderr: CInt
    /// Becomes the child's fd 3; -1 for none.
    public var runtimeChannel: CInt
    /// cgroup.procs files the child writes itself into before exec (one per v1 hierarchy).
    public var cgroupProcsFDs: [CInt] = []
    public var rlimits: [(resource: Int32, soft: UInt64, hard: UInt64)] = []
    public var identity: (uid: UInt32, gid: UInt32)?
    /// Supplementary groups with the identity (its user's, from /etc/group: video, dialout…).
    public var groups: [UInt32] = []
    public var noNewPrivileges = true
    /// The child's umask (nil: the agent's): 0o077 keeps what it creates to itself.
    public var umask: UInt32?

    public init(executable: String, arguments: [String], environment: [String], workingDirectory: String?,
                stdout: CInt, stderr: CInt, runtimeChannel: CInt) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.stdout = stdout
        self.stderr = stderr
        self.runtimeChannel = runtimeChannel
    }
}

/// Why a process could not be started, in the user's terms ("cannot execute X: permission denied").
/// Its errno comes from the child, over the report pipe, not from a call in this process.
public struct SpawnError: Error, Sendable, CustomStringConvertible {
    public var step: String
    public var errno: Errno
    public var executable: String

    public var description: String {
        let reason = errno.description
        switch step {
        case "exec": return "cannot execute \(executable): \(reason.lowercased())"
        default: return "cannot start \(executable): \(step) failed: \(reason.lowercased())"
        }
    }
}

/// Starts processes through the C shim (fork and exec live in C only).
public enum Spawner {
    /// Forks and execs, waiting until the child has exec'd (or failed).
    public static func spawn(_ request: SpawnRequest) throws(SpawnError) -> pid_t {
        var pid: pid_t = 0
        var step: Int32 = 0
        var code: Int32 = 0
        let result = try withRawRequest(request) { raw in edge_spawn(&raw, &pid, &step, &code) }
        guard result == 0 else {
            throw SpawnError(step: stepName(step), errno: Errno(rawValue: code), executable: request.executable)
        }
        return pid
    }

    /// A child started by `start`, whose exec is not confirmed yet. Frozen, so that code in other
    /// modules can take the report on its own (`let report = started.report`).
    @frozen public struct Started: ~Copyable {
        public var pid: pid_t
        /// The read end of the child's report pipe (non-blocking, close-on-exec): readable once
        /// the outcome is known; read it with `outcome(of:)`.
        public var report: FileDescriptor
    }

    /// Forks without waiting for the exec: the child's set-up (a cgroup join can take the kernel
    /// 10-20 ms) never holds up the caller.
    public static func start(_ request: SpawnRequest) throws(SpawnError) -> Started {
        var pid: pid_t = 0
        var report: CInt = -1
        var step: Int32 = 0
        var code: Int32 = 0
        let result = try withRawRequest(request) { raw in edge_spawn_start(&raw, &pid, &report, &step, &code) }
        guard result == 0 else {
            throw SpawnError(step: stepName(step), errno: Errno(rawValue: code), executable: request.executable)
        }
        return Started(pid: pid, report: FileDescriptor(taking: report))
    }

    /// What a started child's report says so far.
    public enum Outcome {
        case pending
        case executed
        case failed(SpawnError)
    }

    public static func outcome(of report: borrowing FileDescriptor, executable: String) -> Outcome {
        var step: Int32 = 0
        var code: Int32 = 0
        switch edge_spawn_outcome(report.rawValue, &step, &code) {
        case 1: return .executed
        case 0: return .pending
        default: return .failed(SpawnError(step: stepName(step), errno: Errno(rawValue: code), executable: executable))
        }
    }

    /// The C request for `request`, valid for the duration of `body` (the fork happens inside).
    private static func withRawRequest(_ request: SpawnRequest, _ body: (inout edge_spawn_request) -> Int32) throws(SpawnError) -> Int32 {
        let devNull = try openStandardInput(for: request)
        let stdin = devNull.rawValue
        // argv[0] is the full path, as a shell would pass it: Python finds its prefix (a venv's,
        // pyenv's) from argv[0], and a bare name would be looked up on the function's own PATH.
        let argv = CStringArray([request.executable] + request.arguments)
        let envp = CStringArray(request.environment)
        // /dev/null stays open until the fork, inside `body`, is done.
        return withExtendedLifetime(devNull) {
            request.executable.withCString { path in
                withOptionalCString(request.workingDirectory) { cwd in
                    var raw = edge_spawn_request()
                    raw.path = path
                    raw.argv = UnsafePointer(argv.pointer)
                    raw.envp = UnsafePointer(envp.pointer)
                    raw.cwd = cwd
                    raw.stdin_fd = stdin
                    raw.stdout_fd = request.stdout
                    raw.stderr_fd = request.stderr
                    raw.runtime_fd = request.runtimeChannel
                    raw.cgroup_count = fill(&raw.cgroup_procs_fds, with: request.cgroupProcsFDs)
                    raw.rlimit_count = fill(&raw.rlimits, with: request.rlimits.map {
                        edge_spawn_rlimit(resource: $0.resource, soft: $0.soft, hard: $0.hard)
                    })
                    if let identity = request.identity {
                        raw.set_ids = 1
                        raw.uid = identity.uid
                        raw.gid = identity.gid
                        raw.group_count = fill(&raw.groups, with: request.groups)
                    }
                    raw.no_new_privs = request.noNewPrivileges ? 1 : 0
                    if let bits = request.umask {
                        raw.set_umask = 1
                        raw.umask_bits = bits
                    }
                    raw.parent_death_signal = SIGKILL
                    raw.parent = getpid()
                    return body(&raw)
                }
            }
        }
    }

    /// /dev/null, the child's standard input.
    private static func openStandardInput(for request: SpawnRequest) throws(SpawnError) -> FileDescriptor {
        do {
            return try FileDescriptor.open("/dev/null", O_RDONLY)
        } catch {
            throw SpawnError(step: "opening /dev/null for its standard input", errno: error.errno, executable: request.executable)
        }
    }

    static func stepName(_ step: Int32) -> String {
        switch UInt32(step) {
        case EDGE_SPAWN_STEP_FORK.rawValue: return "fork"
        case EDGE_SPAWN_STEP_SIGNALS.rawValue: return "signal reset"
        case EDGE_SPAWN_STEP_SETSID.rawValue: return "setsid"
        case EDGE_SPAWN_STEP_CGROUP.rawValue: return "joining the cgroup"
        case EDGE_SPAWN_STEP_RLIMIT.rawValue: return "setrlimit"
        case EDGE_SPAWN_STEP_FDS.rawValue: return "descriptor set-up"
        case EDGE_SPAWN_STEP_CHDIR.rawValue: return "chdir"
        case EDGE_SPAWN_STEP_SETGROUPS.rawValue: return "setgroups"
        case EDGE_SPAWN_STEP_SETGID.rawValue: return "setgid"
        case EDGE_SPAWN_STEP_SETUID.rawValue: return "setuid"
        case EDGE_SPAWN_STEP_NO_NEW_PRIVS.rawValue: return "no_new_privs"
        case EDGE_SPAWN_STEP_PDEATHSIG.rawValue: return "parent-death signal"
        default: return "exec"
        }
    }
}

/// A NULL-terminated array of C strings that lives as long as this value.
final class CStringArray {
    let pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    private let count: Int

    init(_ strings: [String]) {
        count = strings.count
        pointer = .allocate(capacity: strings.count + 1)
        for (index, string) in strings.enumerated() { pointer[index] = strdup(string) }
        pointer[strings.count] = nil
    }

    deinit {
        for index in 0..<count { free(pointer[index]) }
        pointer.deallocate()
    }
}

func withOptionalCString<R>(_ string: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let string else { return body(nil) }
    return string.withCString { body($0) }
}

/// Descriptor pairs for talking to children.
public enum Channels {
    /// A connected stream socket pair, both ends close-on-exec. Frozen, so that code in other
    /// modules can take each end on its own (`let child = pair.child`).
    @frozen public struct SocketPair: ~Copyable {
        /// The agent's end, non-blocking.
        public var agent: FileDescriptor
        /// The child's end, blocking, as a program expects its descriptors.
        public var child: FileDescriptor
    }

    /// A pipe, both ends close-on-exec; frozen like SocketPair.
    @frozen public struct Pipe: ~Copyable {
        /// The read end, for the agent, non-blocking.
        public var readEnd: FileDescriptor
        /// The write end, for the child, blocking.
        public var writeEnd: FileDescriptor
    }

    public static func makeSocketPair() throws(SystemError) -> SocketPair {
        var fds: [CInt] = [-1, -1]
        _ = try systemCall("socketpair") { socketpair(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0, &fds) }
        let pair = SocketPair(agent: FileDescriptor(taking: fds[0]), child: FileDescriptor(taking: fds[1]))
        try pair.agent.setNonBlocking()
        return pair
    }

    public static func makePipe() throws(SystemError) -> Pipe {
        var fds: [CInt] = [-1, -1]
        _ = try systemCall("pipe2") { edge_pipe_cloexec(&fds) }
        let pipe = Pipe(readEnd: FileDescriptor(taking: fds[0]), writeEnd: FileDescriptor(taking: fds[1]))
        try pipe.readEnd.setNonBlocking()
        return pipe
    }
}

/// Looks up local users for running functions under them.
public enum Users {
    public static func lookup(_ name: String) -> (uid: UInt32, gid: UInt32)? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getpwnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return (entry.pw_uid, entry.pw_gid)
    }

    public static var isRoot: Bool { geteuid() == 0 }

    /// The groups `name` belongs to, its primary group first (getgrouplist), at most 32.
    public static func groups(of name: String, primary: UInt32) -> [UInt32] {
        var count: Int32 = 32
        var groups = [gid_t](repeating: 0, count: 32)
        if getgrouplist(name, primary, &groups, &count) < 0 { count = min(count, 32) }
        let found = Array(groups.prefix(Int(max(count, 0))))
        return [primary] + found.filter { $0 != primary }.prefix(31)
    }

    /// The name of the user with `uid`, if it has one.
    public static func name(of uid: UInt32) -> String? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil, let name = entry.pw_name else { return nil }
        return String(cString: name)
    }
}

/// Copies `values` into a C array of fixed size (imported as a tuple of `Element`), as many as it
/// holds; returns how many it took.
private func fill<Element, Slots>(_ array: inout Slots, with values: [Element]) -> Int32 {
    precondition(MemoryLayout<Slots>.size % MemoryLayout<Element>.stride == 0, "a C array of \(Element.self) expected")
    return withUnsafeMutableBytes(of: &array) { bytes in
        let slots = bytes.bindMemory(to: Element.self)
        let count = min(values.count, slots.count)
        for index in 0..<count { slots[index] = values[index] }
        return Int32(count)
    }
}
