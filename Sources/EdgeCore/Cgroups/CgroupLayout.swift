/// Where the cgroup hierarchies are mounted and where this process sits in each, read from
/// /proc/self/mountinfo and /proc/self/cgroup.
public struct CgroupLayout: Sendable, Equatable {
    public struct Mount: Sendable, Equatable {
        /// Where the hierarchy is mounted.
        public var mountPoint: String
        /// Which cgroup of the hierarchy the mount shows (not "/" inside some containers).
        public var root: String
        /// The v1 controllers bound to it (empty for v2: read its cgroup.controllers).
        public var controllers: [String]
    }

    /// The unified (v2) hierarchy, if mounted.
    public var unified: Mount?
    /// v1 hierarchies by controller ("memory", "cpu", "cpuacct", "pids", "freezer").
    public var v1: [String: Mount] = [:]
    /// This process's cgroup in the unified hierarchy ("0::/path").
    public var ownUnified: String?
    /// This process's cgroup in each v1 hierarchy, by controller.
    public var ownV1: [String: String] = [:]

    public init() {}

    public static func parse(mountinfo: String, procSelfCgroup: String) -> CgroupLayout {
        var layout = CgroupLayout()
        for line in mountinfo.split(separator: "\n") {
            let parts = line.split(separator: " ").map(String.init)
            guard let dash = parts.firstIndex(of: "-"), dash >= 5, parts.count >= dash + 3 else { continue }
            let type = parts[dash + 1]
            let root = unescape(parts[3])
            let mountPoint = unescape(parts[4])
            if type == "cgroup2" {
                if layout.unified == nil { layout.unified = Mount(mountPoint: mountPoint, root: root, controllers: []) }
            } else if type == "cgroup" {
                let options = parts[dash + 3].split(separator: ",").map(String.init)
                let known = ["memory", "cpu", "cpuacct", "pids", "freezer"]
                let controllers = options.filter { known.contains($0) }
                for controller in controllers where layout.v1[controller] == nil {
                    layout.v1[controller] = Mount(mountPoint: mountPoint, root: root, controllers: controllers)
                }
            }
        }
        for line in procSelfCgroup.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 3 else { continue }
            if fields[0] == "0" && fields[1].isEmpty {
                layout.ownUnified = fields[2]
            } else {
                for controller in fields[1].split(separator: ",") { layout.ownV1[String(controller)] = fields[2] }
            }
        }
        return layout
    }

    /// The directory of this process's own cgroup in `mount`, given its path in the hierarchy.
    public static func directory(of path: String, in mount: Mount) -> String {
        // Below the mount's root by whole components: "/docker/abcdef" is not below "/docker/abc".
        var relative = path
        let root = mount.root.hasSuffix("/") ? String(mount.root.dropLast()) : mount.root
        if !root.isEmpty && (relative == root || relative.hasPrefix(root + "/")) { relative.removeFirst(root.count) }
        return join(mount.mountPoint, relative)
    }

    /// `base` + `path`, with exactly one slash between, and no trailing slash.
    public static func join(_ base: String, _ path: String) -> String {
        let trimmedBase = base.hasSuffix("/") ? String(base.dropLast()) : base
        let parts = path.split(separator: "/")
        return parts.isEmpty ? (trimmedBase.isEmpty ? "/" : trimmedBase) : trimmedBase + "/" + parts.joined(separator: "/")
    }

    /// mountinfo escapes space, tab, newline and backslash as \ooo.
    static func unescape(_ text: String) -> String {
        guard text.contains("\\") else { return text }
        var bytes: [UInt8] = []
        let source = Array(text.utf8)
        var index = 0
        while index < source.count {
            if source[index] == UInt8(ascii: "\\"), index + 3 < source.count + 0,
               let value = UInt8(String(decoding: source[(index + 1)...(index + 3)], as: UTF8.self), radix: 8) {
                bytes.append(value)
                index += 4
            } else {
                bytes.append(source[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
