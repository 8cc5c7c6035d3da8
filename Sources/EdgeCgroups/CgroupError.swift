import EdgePOSIX

/// Why a function's cgroup could not be set up, in the operator's terms.
public struct CgroupError: Error, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }

    /// What the agent was doing, then the call that failed with its path and errno:
    /// "cannot create the cgroup /sys/fs/cgroup/edge/f.1: mkdir /sys/fs/cgroup/edge/f.1: Permission denied (EACCES)".
    init(_ what: String, _ error: SystemError, hint: String = "") {
        description = "\(what): \(error)\(hint)"
    }
}
