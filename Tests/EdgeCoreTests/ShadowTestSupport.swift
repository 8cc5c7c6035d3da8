import Testing
import EdgeJSON
@testable import EdgeCore

/// A JSON fixture written as text; a fixture that does not parse is a test failure (and reads as null).
func parseJSON(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> JSONValue {
    switch JSONCodec.parse(text) {
    case .success(let value): return value
    case .failure(let error):
        Issue.record("fixture does not parse (\(error)): \(text)", sourceLocation: sourceLocation)
        return .null
    }
}

/// The members of a JSON object fixture.
func members(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> [String: JSONValue] {
    guard let members = parseJSON(text, sourceLocation: sourceLocation).objectValue else {
        Issue.record("fixture is not an object: \(text)", sourceLocation: sourceLocation)
        return [:]
    }
    return members
}

/// An optional section fixture: nil stands for "no section".
func section(_ text: String?, sourceLocation: SourceLocation = #_sourceLocation) -> [String: JSONValue]? {
    text.map { members($0, sourceLocation: sourceLocation) }
}

extension ShadowBook {
    /// Sends `payload` (text, or nil for an empty payload) as `operation` on shadow `name`.
    mutating func send(_ operation: Operation, _ payload: String?, name: String? = nil, now: Int64,
                       sourceLocation: SourceLocation = #_sourceLocation) -> Outcome {
        let document = payload.map { parseJSON($0, sourceLocation: sourceLocation) }
        let request = operation == .update ? ShadowRequest.update(document ?? .null) : ShadowRequest.other(document)
        return perform(operation, on: name, request, now: now)
    }
}

extension ShadowBook.Outcome {
    var suffixes: [String] { messages.map(\.suffix) }

    /// The payload published on `suffix`, when one was.
    func message(_ suffix: String) -> JSONValue? {
        messages.first { $0.suffix == suffix }?.payload
    }
}
