/// Why a function's cgroup could not be set up, in the operator's terms.
public struct CgroupError: Error, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }
}
