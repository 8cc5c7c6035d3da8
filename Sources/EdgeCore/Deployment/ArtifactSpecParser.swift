/// Validates a function's `artifacts` list.
enum ArtifactSpecParser {
    static let schemes = ["file://", "http://", "https://", "data:"]

    static func parseList(_ value: JSONValue?, at path: String, reader: FieldReader) -> [ArtifactSpec] {
        guard let items = reader.array(value, at: path, maxCount: 64) else { return [] }
        var result: [ArtifactSpec] = []
        var names: Set<String> = []
        for (index, item) in items.enumerated() {
            let itemPath = "\(path)[\(index)]"
            guard let artifact = parse(item, at: itemPath, reader: reader) else { continue }
            if artifact.unarchive == .none {
                if names.contains(artifact.name) {
                    reader.fail("\(itemPath).name", .string(artifact.name), "two artifacts would have the same file name; set \"name\"")
                    continue
                }
                names.insert(artifact.name)
            }
            result.append(artifact)
        }
        return result
    }

    static func parse(_ value: JSONValue, at path: String, reader: FieldReader) -> ArtifactSpec? {
        guard let members = reader.object(value, at: path) else { return nil }
        let before = reader.issues.count
        reader.rejectUnknown(members, known: ["uri", "sha256", "unarchive", "name"], at: path)
        let uri = reader.string(reader.required(members, "uri", at: path), at: "\(path).uri", maxLength: 1 << 20) { uri in
            if uri.hasPrefix("file://") && !uri.hasPrefix("file:///") {
                return "a file URI needs an absolute path: file:///path/to/file"
            }
            return schemes.contains(where: { uri.hasPrefix($0) }) ? nil
                : "unsupported URI scheme; use one of \(schemes.joined(separator: " "))"
        }
        let sha256 = reader.string(reader.required(members, "sha256", at: path), at: "\(path).sha256", maxLength: 64) { digest in
            digest.utf8.count == 64 && digest.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) ? nil
                : "must be the artifact's SHA-256 as 64 lowercase hex digits (sha256sum prints it)"
        }
        let unarchive = reader.oneOf(members["unarchive"], at: "\(path).unarchive", ["none", "tar", "tar.gz"])
            .flatMap(ArtifactSpec.Unarchive.init(rawValue:)) ?? ArtifactSpec.Unarchive.none
        var name = reader.string(members["name"], at: "\(path).name", maxLength: 255, rule: fileNameProblem)
        if name == nil, members["name"] == nil, let uri, unarchive == .none {
            let derived = uri.hasPrefix("data:") ? "" : lastPathComponent(of: uri)
            if fileNameProblem(derived) != nil {
                reader.fail("\(path).name", nil, "cannot derive a file name from the URI; set \"name\"")
            } else {
                name = derived
            }
        }
        guard reader.issues.count == before, let uri, let sha256 else { return nil }
        return ArtifactSpec(uri: uri, sha256: sha256, unarchive: unarchive, name: name ?? "")
    }

    /// A single confined file name: no separators, not `.` or `..`.
    static func fileNameProblem(_ name: String) -> String? {
        if name.isEmpty || name == "." || name == ".." { return "must be a plain file name" }
        return NameRule.check(name, extra: "._+-", what: "a file name", maxLength: 255)
    }

    static func lastPathComponent(of uri: String) -> String {
        var path = Substring(uri)
        if let query = path.firstIndex(where: { $0 == "?" || $0 == "#" }) { path = path[..<query] }
        return path.split(separator: "/").last.map(String.init) ?? ""
    }
}

/// Lexical confinement of a path given in a document.
public enum RelativePath {
    /// `nil` when `path` stays inside the directory it is relative to (or is absolute and allowed).
    public static func problem(in path: String, allowAbsolute: Bool) -> String? {
        if path.hasPrefix("/") { return allowAbsolute ? nil : "must be relative" }
        for component in path.split(separator: "/") where component == ".." {
            return "cannot contain '..'"
        }
        return path.isEmpty ? "cannot be empty" : nil
    }
}
