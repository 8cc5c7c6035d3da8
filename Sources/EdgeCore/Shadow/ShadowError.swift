/// Why the shadow service refused a request: the code and message AWS IoT documents for its
/// MQTT API, so clients written for AWS match on them unchanged, plus a `detail` naming the
/// field and the fix (an extra member AWS clients ignore).
public struct ShadowError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: Int
    public var message: String
    public var detail: String?

    public init(code: Int, message: String, detail: String? = nil) {
        self.code = code
        self.message = message
        self.detail = detail
    }

    public var description: String { detail.map { "\(code) \(message): \($0)" } ?? "\(code) \(message)" }

    public static func invalidJSON(_ detail: String? = nil) -> ShadowError { .init(code: 400, message: "Invalid JSON", detail: detail) }
    public static let missingState = ShadowError(code: 400, message: "Missing required node: state",
                                                 detail: "an update needs {\"state\": {\"desired\": {...}, \"reported\": {...}}}")
    public static func stateNotObject(_ got: String) -> ShadowError {
        .init(code: 400, message: "State node must be an object", detail: "state is \(got); send an object with desired and/or reported")
    }
    public static func sectionNotObject(_ section: String, _ got: String) -> ShadowError {
        .init(code: 400, message: section == "desired" ? "Desired node must be an object" : "Reported node must be an object",
              detail: "state.\(section) is \(got); send an object, or null to clear the section")
    }
    public static func invalidVersion(_ got: String) -> ShadowError {
        .init(code: 400, message: "Invalid version", detail: "version is \(got); send the shadow's current version as a positive whole number, or leave it out")
    }
    public static func invalidClientToken(_ why: String) -> ShadowError {
        .init(code: 400, message: "Invalid clientToken", detail: why)
    }
    public static func tooDeep(_ path: String) -> ShadowError {
        .init(code: 400, message: "JSON contains too many levels of nesting; maximum is 6",
              detail: "\(path) nests deeper than \(ShadowLimits.maxDepth) levels below desired or reported")
    }
    public static func invalidNode(_ key: String) -> ShadowError {
        .init(code: 400, message: "State contains an invalid node", detail: "state.\(key) is not allowed; state holds only desired and reported")
    }
    public static func invalidShadowName(_ why: String) -> ShadowError {
        .init(code: 400, message: "Invalid shadow name", detail: why)
    }
    public static func notFound(_ name: String) -> ShadowError {
        .init(code: 404, message: "No shadow exists with name: '\(name)'")
    }
    public static func versionConflict(current: Int64) -> ShadowError {
        .init(code: 409, message: "Version conflict", detail: "the shadow is at version \(current); get it, then send that version")
    }
    public static func tooLarge(_ detail: String) -> ShadowError {
        .init(code: 413, message: "The payload exceeds the maximum size allowed", detail: detail)
    }
    public static let unsupportedEncoding = ShadowError(code: 415, message: "Unsupported documented encoding; supported encoding is UTF-8")
    public static func tooManyShadows(_ limit: Int) -> ShadowError {
        .init(code: 400, message: "Too many shadows",
              detail: "this thing already has \(limit) named shadows, the most an agent keeps; delete one first")
    }
    public static func internalFailure(_ detail: String) -> ShadowError {
        .init(code: 500, message: "Internal service failure", detail: detail)
    }
}

/// The limits AWS IoT documents for shadows, which the agent enforces the same way.
public enum ShadowLimits {
    /// desired and reported together, in bytes of compact JSON (metadata does not count).
    public static let maxStateBytes = 8192
    /// Levels of nesting below `desired` or `reported`.
    public static let maxDepth = 6
    public static let maxClientTokenBytes = 64
    public static let maxNameBytes = 64
    /// The largest request payload read at all (AWS's MQTT message limit).
    public static let maxPayloadBytes = 128 * 1024
    /// Named shadows one thing may have on the device (classic not counted); bounds disk and memory.
    public static let maxNamedShadows = 100
    /// Deleted named shadows remembered (for their versions); beyond it the oldest is forgotten.
    public static let maxTombstones = 1000
}
