/// One thing wrong with a document: where (a dotted field path), what was there, and the rule.
public struct ValidationIssue: Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var value: String?
    public var message: String

    public init(path: String, value: String?, message: String) {
        self.path = path
        self.value = value
        self.message = message
    }

    public var description: String {
        if let value { return "\(path): \(message) (got \(value))" }
        return "\(path): \(message)"
    }
}

/// Every issue found in a document; a document with any issue is rejected whole.
public struct DocumentRejection: Error, Sendable, Equatable, CustomStringConvertible {
    public var issues: [ValidationIssue]

    public init(_ issues: [ValidationIssue]) { self.issues = issues }

    public var description: String { issues.map(\.description).joined(separator: "; ") }
}
