import EdgePOSIX

/// What went wrong with an artifact; `description` is a user-facing message.
public struct ArtifactError: Error, CustomStringConvertible, Sendable {
    /// The message shown to the user: it names the thing involved and, where possible, what to do.
    public var description: String

    init(_ description: String) {
        self.description = description
    }

    /// A failed system call, after what was being done: "<what>: <call> <path>: <reason> (<ERRNO>)".
    init(_ what: String, _ error: SystemError) {
        self.description = "\(what): \(error)"
    }
}
