/// The one place where a deployment document is validated (docs/deployments.md lists the rules).
public enum DeploymentParser {
    public static let maxFunctions = 64
    static let topFields = ["deploymentId", "revision", "functions", "policy", "target"]
    static let policyFields = ["onFailure", "healthySeconds"]

    /// Validates `document`, expanding `{thing}` in topics for `thing`; `shadowRoot` is the root
    /// of the thing's shadow topics, which no function may subscribe into.
    public static func parse(_ document: JSONValue, thing: String, shadowRoot: String = "$aws") -> Result<Deployment, DocumentRejection> {
        let reader = FieldReader()
        guard let top = reader.object(document, at: "(document)") else {
            return .failure(DocumentRejection(reader.issues))
        }
        reader.rejectUnknown(top, known: topFields, at: "")
        let deploymentId = reader.string(reader.required(top, "deploymentId", at: ""), at: "deploymentId", maxLength: 128) {
            NameRule.check($0, extra: "._:-", what: "a deploymentId", maxLength: 128)
        }
        let revision = reader.integer(reader.required(top, "revision", at: ""), at: "revision", range: 1...Int64.max)
        // Where the document is for (what a signature binds it to); checked against the topic it
        // came on by DeploymentTrust.targetIssue.
        _ = reader.string(top["target"], at: "target", maxLength: 200) { DeploymentTarget.problem($0) }
        var functions: [String: FunctionSpec] = [:]
        if let members = reader.object(reader.required(top, "functions", at: ""), at: "functions") {
            if members.count > maxFunctions {
                reader.fail("functions", nil, "has \(members.count) functions; at most \(maxFunctions) are allowed")
            }
            let topics = Topics(thing: thing, shadowRoot: shadowRoot)
            for name in members.keys.sorted() {
                let path = "functions.\(name)"
                if let problem = NameRule.functionName(name) {
                    reader.fail(path, .string(name), problem)
                    continue
                }
                if let spec = FunctionSpecParser.parse(members[name]!, name: name, at: path, topics: topics, reader: reader) {
                    functions[name] = spec
                }
            }
        }
        var policy = DeploymentPolicy()
        if let members = reader.object(top["policy"], at: "policy") {
            reader.rejectUnknown(members, known: policyFields, at: "policy")
            if let text = reader.oneOf(members["onFailure"], at: "policy.onFailure", ["rollback", "none"]) {
                policy.onFailure = DeploymentPolicy.OnFailure(rawValue: text)!
            }
            if let seconds = reader.integer(members["healthySeconds"], at: "policy.healthySeconds", range: 0...600) {
                policy.healthySeconds = Int(seconds)
            }
        }
        guard reader.issues.isEmpty, let deploymentId, let revision else {
            return .failure(DocumentRejection(reader.issues))
        }
        return .success(Deployment(deploymentId: deploymentId, revision: revision, functions: functions, policy: policy))
    }
}
