#if canImport(Glibc)
import Glibc
#endif
import EdgeCore
import EdgePOSIX

/// The agent's own cgroup subtree: one child cgroup per function instance below it. On v2 a
/// single directory with the memory, cpu and pids controllers enabled for its children; on v1
/// one directory in each hierarchy (memory, cpu, cpuacct, pids, freezer).
public final class CgroupTree {
    public let version: CgroupVersion
    /// The limit controllers functions get ("memory", "cpu", "pids").
    public private(set) var controllers: Set<String> = []
    /// Why a limit controller is missing, one line each.
    public private(set) var problems: [String] = []
    /// The subtree's directories, by the controllers of their hierarchy ("unified" on v2).
    let roots: [(controllers: [String], path: String)]
    /// v2 only: the leaf the agent moved itself into, when it lives in its own subtree.
    public private(set) var agentLeaf: String?
    /// Whether the agent made the subtree (and so removes it when it stops).
    private var created: [String] = []
    private var counter = 0
    /// The subtree's directory held open with an exclusive flock while this agent owns it.
    private var claimed: FileDescriptor?

    static let limitControllers = ["memory", "cpu", "pids"]
    static let noBandwidth = "the cpu controller has no CFS bandwidth control (no cpu.max or cpu.cfs_quota_us: a kernel built without CONFIG_CFS_BANDWIDTH), so cpus cannot be capped"

    init(version: CgroupVersion, roots: [(controllers: [String], path: String)]) {
        self.version = version
        self.roots = roots
    }

    /// Where the subtree is, for health and logs.
    public var paths: [String] { roots.map(\.path) }

    // MARK: Set-up

    /// A v2 subtree at `subtree` (inside the mount at `mountPoint`), with the limit controllers
    /// enabled from the mount down to it. When the agent's own cgroup (`agentDirectory`) is on that
    /// path and is not the real root (a delegated systemd cgroup, a container's namespace root), the
    /// agent first moves into `subtree/agent`: v2 lets no other cgroup that enables controllers for
    /// its children hold processes.
    public static func v2(subtree: String, mountPoint: String, agentDirectory: String?) throws(CgroupError) -> CgroupTree {
        let tree = CgroupTree(version: .v2, roots: [(["unified"], subtree)])
        try tree.makeRoot(subtree)
        // Each controller must be enabled in every cgroup from the mount down to the subtree.
        var chain: [String] = [mountPoint]
        var current = mountPoint
        let below = subtree.hasPrefix(mountPoint) ? String(subtree.dropFirst(mountPoint.count)) : ""
        for component in below.split(separator: "/") {
            current += "/\(component)"
            chain.append(current)
        }
        // A cgroup that enables controllers for its children may hold no process itself, but the
        // real root may: if the agent sits on that chain (a delegated systemd cgroup, a container's
        // namespace root), it moves into a leaf of its subtree first. Only the real root lacks
        // cgroup.events (a namespace root is a cgroup like any other).
        let isRealRoot = { (path: String) in path == mountPoint && !Files.exists("\(path)/cgroup.events") }
        if let own = agentDirectory.map({ CgroupLayout.join($0, "") }), chain.contains(own), !isRealRoot(own) {
            let leaf = "\(subtree)/agent"
            do {
                try Files.makeDirectories(leaf)
                try CgroupFile.write("\(leaf)/cgroup.procs", "0")
            } catch {
                throw CgroupError("cannot move the agent into \(leaf)", error)
            }
            tree.agentLeaf = leaf
        }
        for controller in limitControllers {
            var failure: String?
            for directory in chain {
                let enabled = CgroupFile.read("\(directory)/cgroup.subtree_control")?.split(whereSeparator: { $0 == " " || $0 == "\n" }) ?? []
                if enabled.contains(where: { $0 == controller || $0 == "+\(controller)" }) { continue }
                let available = CgroupFile.read("\(directory)/cgroup.controllers")?.split(whereSeparator: { $0 == " " || $0 == "\n" }) ?? []
                guard available.contains(where: { $0 == controller }) else {
                    failure = "the \(controller) controller is not available in \(directory) (its parent does not enable it, or the kernel lacks it)"
                    break
                }
                do {
                    try CgroupFile.write("\(directory)/cgroup.subtree_control", "+\(controller)")
                } catch {
                    let hint = error.errno == .resourceBusy ? " (other processes live in that cgroup: run the agent under systemd with Delegate=yes, or set cgroups.root)" : ""
                    failure = "cannot enable the \(controller) controller in \(directory): \(error)\(hint)"
                    break
                }
            }
            if failure == nil && controller == "cpu" && CgroupFile.isCgroupfs(subtree) && !Files.exists("\(subtree)/cpu.max") {
                failure = Self.noBandwidth
            }
            if let failure { tree.problems.append(failure) } else { tree.controllers.insert(controller) }
        }
        return tree
    }

    /// A v1 subtree: one directory per hierarchy, each given as its controllers and the path.
    public static func v1(hierarchies: [(controllers: [String], path: String)]) throws(CgroupError) -> CgroupTree {
        let tree = CgroupTree(version: .v1, roots: hierarchies)
        do {
            for hierarchy in hierarchies { try tree.makeRoot(hierarchy.path) }
        } catch {
            tree.removeSubtree()
            throw error
        }
        for controller in limitControllers {
            guard let hierarchy = hierarchies.first(where: { $0.controllers.contains(controller) }) else {
                tree.problems.append("no cgroup v1 hierarchy has the \(controller) controller mounted")
                continue
            }
            if controller == "cpu" && CgroupFile.isCgroupfs(hierarchy.path) && !Files.exists("\(hierarchy.path)/cpu.cfs_quota_us") {
                tree.problems.append(Self.noBandwidth)
                continue
            }
            tree.controllers.insert(controller)
        }
        return tree
    }

    private func makeRoot(_ path: String) throws(CgroupError) {
        // Every folder this creates, parents included, is removed again when the agent stops.
        var missing: [String] = []
        var folder = path
        while !folder.isEmpty && folder != "/" && !Files.isDirectory(folder) {
            missing.append(folder)
            folder = Files.parent(of: folder)
        }
        do {
            try Files.makeDirectories(path)
        } catch {
            let hint = [.permissionDenied, .notPermitted, .readOnlyFileSystem].contains(error.errno)
                ? " (the agent is not root and no cgroup is delegated to its user: run it as root, or under systemd with Delegate=yes)" : ""
            throw CgroupError("cannot create \(path)", error, hint: hint)
        }
        created += missing.reversed()
    }

    /// Takes the subtree for this agent (an exclusive, non-blocking flock on its directory, held
    /// until the agent exits): a second agent pointed at the same subtree must not clean up, and
    /// so kill, the first one's functions.
    public func claim() throws(CgroupError) {
        guard claimed == nil, let root = roots.first?.path else { return }
        do {
            claimed = try Self.lockedDirectory(root)
        } catch {
            throw CgroupError("cannot claim the cgroup subtree \(root)", error)
        }
        guard claimed != nil else {
            throw CgroupError("the cgroup subtree \(root) is in use by another edge-agent: give each agent its own cgroups.root")
        }
    }

    /// `directory`, open and exclusively locked; nil when another process holds the lock.
    private static func lockedDirectory(_ directory: String) throws(SystemError) -> FileDescriptor? {
        let opened = try FileDescriptor.open(directory, O_RDONLY | O_DIRECTORY)
        guard try opened.lockExclusively(path: directory) else { return nil }
        return opened
    }

    // MARK: Instances

    /// A new cgroup for one instance of `function`, with `limits` written into it.
    public func makeInstance(function: String, limits: ResourceLimits) throws(CgroupError) -> FunctionCgroup {
        // A name no cgroup has (one a failed clean-up left is never reused with what is in it).
        var name: String
        repeat {
            counter += 1
            name = "\(function).\(counter)"
        } while roots.contains(where: { Files.exists("\($0.path)/\(name)") })
        var directories: [(controllers: [String], path: String)] = []
        for root in roots {
            let path = "\(root.path)/\(name)"
            do {
                try Files.makeDirectory(path, mode: 0o755)
            } catch {
                for made in directories { _ = CgroupFile.removeTree(made.path) }
                throw CgroupError("cannot create the cgroup \(path)", error)
            }
            directories.append((root.controllers, path))
        }
        let cgroup = FunctionCgroup(version: version, directories: directories)
        let writes = version == .v2 ? CgroupSettings.v2(limits) : CgroupSettings.v1(limits)
        for write in writes where controllers.contains(write.controller) {
            guard let directory = cgroup.directory(for: version == .v2 ? "unified" : write.controller) else { continue }
            let file = "\(directory)/\(write.file)"
            if write.optional && !Files.exists(file) && CgroupFile.isCgroupfs(directory) { continue }
            do {
                try CgroupFile.write(file, write.value)
            } catch {
                if write.optional { continue }
                _ = cgroup.remove()
                throw CgroupError("cannot set \(write.file) to \(write.value) in \(directory)", error)
            }
        }
        return cgroup
    }

    // MARK: Housekeeping

    /// Kills and removes cgroups an earlier run left behind (its functions with them). Returns
    /// the names cleaned and what could not be removed.
    public func cleanStale(waitMs: Int = 2000) -> (cleaned: [String], leftover: [String]) {
        var names: Set<String> = []
        var leftover: [String] = []
        for root in roots {
            let children: [String]
            do {
                children = try CgroupFile.children(root.path)
            } catch {
                leftover.append("\(root.path) (cannot list it: \(error))")
                continue
            }
            for child in children where "\(root.path)/\(child)" != agentLeaf && Self.isInstanceName(child) {
                names.insert(child)
            }
        }
        var cleaned: [String] = []
        for name in names.sorted() {
            let directories = roots.compactMap { root -> (controllers: [String], path: String)? in
                let path = "\(root.path)/\(name)"
                return Files.isDirectory(path) ? (root.controllers, path) : nil
            }
            let stale = FunctionCgroup(version: version, directories: directories)
            stale.killAll()
            // The killed processes are not the agent's children: wait for the kernel to let them go.
            let deadline = Clock.monotonicMs() + Int64(waitMs)
            while !stale.remove() {
                if Clock.monotonicMs() > deadline {
                    leftover.append(stale.path)
                    break
                }
                stale.killAll()
                var pause = timespec(tv_sec: 0, tv_nsec: 10_000_000)
                nanosleep(&pause, nil)
            }
            if !leftover.contains(stale.path) { cleaned.append(name) }
        }
        return (cleaned, leftover)
    }

    /// Whether `name` is one of the agent's instance cgroups (`<function>.<n>`): the clean-up at
    /// start never touches another cgroup, even in a subtree shared by mistake.
    static func isInstanceName(_ name: String) -> Bool {
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return false }
        let function = name[..<dot]
        let number = name[name.index(after: dot)...]
        return !number.isEmpty && number.allSatisfy(\.isASCII) && number.allSatisfy(\.isNumber)
            && NameRule.functionName(String(function)) == nil
    }

    /// At stop: removes the subtree if the agent created it (not one it lives in), with its
    /// instance cgroups; then the parents it created, only if empty (another agent may use them).
    public func removeSubtree() {
        for root in roots where created.contains(root.path) && agentLeaf.map({ !$0.hasPrefix(root.path + "/") }) ?? true {
            _ = CgroupFile.removeTree(root.path)
        }
        for path in created.reversed() where !roots.contains(where: { $0.path == path }) {
            do {
                try Files.removeDirectory(path)
            } catch {
                // Not empty or busy: another agent's subtree lives there too, and keeps it.
                continue
            }
        }
    }
}
