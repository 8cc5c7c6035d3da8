/// `deployments` in the agent's configuration file: the keys whose signatures it trusts.
///
///     "deployments": {"trustedKeys": {"ops-2026": "<base64 of the raw 32-byte Ed25519 public key>"}}
///
/// `edgectl keygen NAME` prints the line to add. Several keys may be trusted at once (a rotation:
/// add the new key, sign with it, then remove the old one).
extension Settings {
    static let deploymentsFields = ["trustedKeys"]
    static let maxTrustedKeys = 16

    mutating func readDeployments(_ top: [String: JSONValue]) throws(ConfigurationError) {
        guard let members = try section(top, "deployments", known: Self.deploymentsFields,
                                        holding: "trustedKeys: {\"KEYID\": \"BASE64 PUBLIC KEY\"}") else { return }
        guard let value = members["trustedKeys"] else { return }
        guard let keys = value.objectValue else {
            throw ConfigurationError(setting: "deployments.trustedKeys",
                                     message: "must be an object of key id → base64 Ed25519 public key, as edgectl keygen prints it")
        }
        guard !keys.isEmpty else {
            // An empty list would silently mean "no signature needed": say it instead.
            throw ConfigurationError(setting: "deployments.trustedKeys",
                                     message: "lists no key: add one (edgectl keygen prints it), or remove deployments.trustedKeys "
                                         + "to apply unsigned deployments")
        }
        guard keys.count <= Self.maxTrustedKeys else {
            throw ConfigurationError(setting: "deployments.trustedKeys", message: "lists \(keys.count) keys; at most \(Self.maxTrustedKeys) are allowed")
        }
        var trusted: [String: [UInt8]] = [:]
        for keyid in keys.keys.sorted() {
            let setting = "deployments.trustedKeys.\(keyid)"
            if let problem = NameRule.check(keyid, extra: "._:-", what: "a key id", maxLength: 64) {
                throw ConfigurationError(setting: setting, message: "'\(keyid)' is not a valid key id: \(problem)")
            }
            guard let text = keys[keyid]?.stringValue, case .success(let raw) = Base64.decode(text), raw.count == 32 else {
                throw ConfigurationError(setting: setting, message: "must be the base64 of a raw 32-byte Ed25519 public key (44 "
                                         + "characters), as edgectl keygen prints it, not \(keys[keyid]!.excerpt())")
            }
            trusted[keyid] = raw
        }
        trustedKeys = trusted
    }
}
