/// What the device has, read once at start: a limit above it is a mistake in the deployment.
public struct DeviceCapacity: Sendable, Equatable {
    public var memoryMB: Int
    public var cpus: Int
    /// The kernel's `pid_max`: no function can have more processes than that.
    public var pidMax: Int
    /// The highest RLIMIT_NOFILE the agent can give: the kernel's `nr_open`, or its own hard
    /// limit when it is not root.
    public var openFilesMax: Int

    public init(memoryMB: Int, cpus: Int, pidMax: Int, openFilesMax: Int) {
        self.memoryMB = memoryMB
        self.cpus = cpus
        self.pidMax = pidMax
        self.openFilesMax = openFilesMax
    }
}
