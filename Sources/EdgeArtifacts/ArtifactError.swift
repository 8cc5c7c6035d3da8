#if canImport(Glibc)
import Glibc
#endif

/// What went wrong with an artifact; `description` is a user-facing message.
public struct ArtifactError: Error, CustomStringConvertible, Sendable {
    /// The message shown to the user: it names the thing involved and, where possible, what to do.
    public var description: String

    init(_ description: String) {
        self.description = description
    }

    /// A failed system call, phrased as "<what>: <strerror> (errno N)".
    init(_ what: String, errno code: Int32) {
        self.description = "\(what): \(systemErrorMessage(code)) (errno \(code))"
    }
}

/// The C library's text for an errno value.
func systemErrorMessage(_ code: Int32) -> String {
    // glibc's strerror returns static, immutable strings for known codes, so reading it is safe here.
    guard let text = strerror(code) else { return "unknown error" }
    return String(cString: text)
}
