/// A shadow request read from its JSON payload and checked the way AWS IoT checks it.
public struct ShadowRequest: Sendable, Equatable {
    /// `state.desired` and `state.reported` as sent: an object, or `null` to clear; nil when absent.
    public var desired: JSONValue?
    public var reported: JSONValue?
    public var clientToken: String?
    public var version: Int64?

    public init(desired: JSONValue? = nil, reported: JSONValue? = nil, clientToken: String? = nil, version: Int64? = nil) {
        self.desired = desired
        self.reported = reported
        self.clientToken = clientToken
        self.version = version
    }

    /// A refusal, with the client token when it could be read (the rejection echoes it).
    public struct Refusal: Error, Sendable, Equatable {
        public var error: ShadowError
        public var clientToken: String?

        public init(error: ShadowError, clientToken: String? = nil) {
            self.error = error
            self.clientToken = clientToken
        }
    }

    /// An `/update` request: `state` is required; other top-level members are ignored, as AWS does.
    public static func update(_ document: JSONValue) -> Result<ShadowRequest, Refusal> {
        guard let members = document.objectValue else {
            return .failure(Refusal(error: .invalidJSON("the payload is a JSON \(document.typeName); send an object")))
        }
        var request = ShadowRequest()
        if let refusal = readCommon(members, into: &request) { return .failure(refusal) }
        func refuse(_ error: ShadowError) -> Result<ShadowRequest, Refusal> { .failure(Refusal(error: error, clientToken: request.clientToken)) }
        guard let state = members["state"] else { return refuse(.missingState) }
        guard let sections = state.objectValue else { return refuse(.stateNotObject(state.typeName)) }
        for key in sections.keys.sorted() where key != "desired" && key != "reported" { return refuse(.invalidNode(key)) }
        for name in ["desired", "reported"] {
            guard let section = sections[name] else { continue }
            guard section == .null || section.objectValue != nil else { return refuse(.sectionNotObject(name, section.typeName)) }
            if let path = ShadowRules.tooDeepPath(in: section, limit: ShadowLimits.maxDepth, path: "state.\(name)") {
                return refuse(.tooDeep(path))
            }
        }
        request.desired = sections["desired"]
        request.reported = sections["reported"]
        return .success(request)
    }

    /// A `/get` or `/delete` request: an empty payload, or an object with `clientToken` (and `version` for delete).
    public static func other(_ document: JSONValue?) -> Result<ShadowRequest, Refusal> {
        var request = ShadowRequest()
        guard let document else { return .success(request) }
        guard let members = document.objectValue else {
            return .failure(Refusal(error: .invalidJSON("the payload is a JSON \(document.typeName); send an object or nothing")))
        }
        if let refusal = readCommon(members, into: &request) { return .failure(refusal) }
        return .success(request)
    }

    private static func readCommon(_ members: [String: JSONValue], into request: inout ShadowRequest) -> Refusal? {
        if let token = members["clientToken"] {
            guard let text = token.stringValue else {
                return Refusal(error: .invalidClientToken("clientToken is a \(token.typeName); send a string of at most 64 bytes"))
            }
            guard !text.isEmpty, text.utf8.count <= ShadowLimits.maxClientTokenBytes else {
                return Refusal(error: .invalidClientToken("clientToken is \(text.utf8.count) bytes; send 1 to 64 bytes"))
            }
            request.clientToken = text
        }
        if let version = members["version"] {
            guard let number = version.intValue, number >= 0, version.doubleValue.map({ $0 == $0.rounded() }) ?? false else {
                return Refusal(error: .invalidVersion(version.excerpt()), clientToken: request.clientToken)
            }
            request.version = number
        }
        return nil
    }
}
