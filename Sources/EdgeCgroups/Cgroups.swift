#if canImport(Glibc)
import Glibc
#endif
import EdgeCore
import EdgePOSIX

/// Finds the cgroup hierarchies and sets up the agent's subtree.
public enum Cgroups {
    /// The agent's subtree name below its own cgroup when no root is configured.
    public static let defaultName = "edge-agent"

    /// The default subtree name for the agent of `thing`: two agents on one machine never share one.
    public static func subtreeName(thing: String) -> String {
        "\(defaultName)-" + String(thing.map { $0 == ":" ? "_" : $0 })
    }

    /// Reads /proc and sets up the subtree; the error says why cgroups cannot be used.
    public static func setUp(mode: CgroupMode, root: String?, name: String = defaultName) -> Result<CgroupTree, CgroupError> {
        guard mode != .off else { return .failure(CgroupError("cgroups are off in the agent's configuration")) }
        let mountinfo = CgroupFile.read("/proc/self/mountinfo") ?? ""
        let own = CgroupFile.read("/proc/self/cgroup") ?? ""
        return setUp(mode: mode, root: root, layout: CgroupLayout.parse(mountinfo: mountinfo, procSelfCgroup: own), name: name)
    }

    public static func setUp(mode: CgroupMode, root: String?, layout: CgroupLayout, name: String = defaultName) -> Result<CgroupTree, CgroupError> {
        let unifiedControllers = layout.unified.flatMap { CgroupFile.read("\($0.mountPoint)/cgroup.controllers") }?
            .split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init) ?? []
        let v2Usable = layout.unified != nil && unifiedControllers.contains { CgroupTree.limitControllers.contains($0) }
        let v1Usable = CgroupTree.limitControllers.contains { layout.v1[$0] != nil }
        let chosen: CgroupVersion
        switch mode {
        case .v2:
            guard layout.unified != nil else { return .failure(CgroupError("cgroups.mode is v2 but no cgroup2 filesystem is mounted")) }
            chosen = .v2
        case .v1:
            guard v1Usable else { return .failure(CgroupError("cgroups.mode is v1 but no v1 hierarchy has the memory, cpu or pids controller")) }
            chosen = .v1
        default:
            if v2Usable {
                chosen = .v2
            } else if v1Usable {
                chosen = .v1
            } else {
                return .failure(CgroupError("no cgroup hierarchy with the memory, cpu or pids controller is mounted"))
            }
        }
        do {
            switch chosen {
            case .v2:
                let mount = layout.unified!
                let ownDirectory = layout.ownUnified.map { CgroupLayout.directory(of: $0, in: mount) }
                let subtree: String
                if let root {
                    subtree = root.hasPrefix("/") ? CgroupLayout.directory(of: root, in: mount)
                        : CgroupLayout.join(ownDirectory ?? mount.mountPoint, root)
                } else if let own = layout.ownUnified, own != "/", let ownDirectory {
                    // Under systemd with Delegate=yes the service's own cgroup is the agent's to manage.
                    subtree = ownDirectory
                } else {
                    subtree = CgroupLayout.join(mount.mountPoint, name)
                }
                return .success(try CgroupTree.v2(subtree: subtree, mountPoint: mount.mountPoint, agentDirectory: ownDirectory))
            case .v1:
                var hierarchies: [(controllers: [String], path: String)] = []
                var seen: Set<String> = []
                for controller in ["memory", "cpu", "cpuacct", "pids", "freezer"] {
                    guard let mount = layout.v1[controller], !seen.contains(mount.mountPoint) else { continue }
                    seen.insert(mount.mountPoint)
                    let ownDirectory = CgroupLayout.directory(of: layout.ownV1[controller] ?? "/", in: mount)
                    let path: String
                    if let root {
                        path = root.hasPrefix("/") ? CgroupLayout.directory(of: root, in: mount) : CgroupLayout.join(ownDirectory, root)
                    } else {
                        path = CgroupLayout.join(ownDirectory, name)
                    }
                    hierarchies.append((mount.controllers, path))
                }
                return .success(try CgroupTree.v1(hierarchies: hierarchies))
            }
        } catch {
            return .failure(error)
        }
    }
}
