/// A deployment's `target`: the topic it is for, `things/NAME` or `groups/NAME`. A signature
/// covers it, so a signed document cannot be replayed on another thing's or group's topic.
public enum DeploymentTarget {
    /// The target of documents that arrive from `source` on `thing`'s agent.
    public static func of(_ source: DeploymentSource, thing: String) -> String {
        switch source {
        case .thing: return "things/\(thing)"
        case .group(let group): return "groups/\(group)"
        }
    }

    /// Why `text` is not a target, or nil.
    public static func problem(_ text: String) -> String? {
        let form = "must be things/NAME or groups/NAME (the thing or group the document is for)"
        guard let slash = text.firstIndex(of: "/") else { return form }
        let kind = text[..<slash], name = String(text[text.index(after: slash)...])
        switch kind {
        case "things": return NameRule.thingName(name).map { "\(form): \($0)" }
        case "groups": return NameRule.groupName(name).map { "\(form): \($0)" }
        default: return form
        }
    }

    /// Why `document` may not apply where it came from: its `target` names another topic, or a
    /// document that was verified with a trusted key (`signed`) names none.
    public static func issue(_ document: JSONValue, from source: DeploymentSource, thing: String, signed: Bool) -> ValidationIssue? {
        let expected = of(source, thing: thing)
        guard let target = document["target"]?.stringValue else {
            guard signed else { return nil }
            return ValidationIssue(path: "target", value: nil,
                                   message: "is required in a signed deployment: it names the topic the signature is valid for "
                                       + "(here \(expected)); sign it with edgectl sign --thing THING or --group GROUP")
        }
        guard target != expected else { return nil }
        return ValidationIssue(path: "target", value: target,
                               message: "names another thing or group than the topic it came on (\(expected)): a deployment "
                                   + "applies only where it was made for; deploy it with --thing or --group naming \(expected)")
    }
}
