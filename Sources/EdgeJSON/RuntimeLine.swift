import EdgeCore

/// One line a function wrote on its runtime channel (fd 3), read: a message, a blank line, or
/// what is wrong with it. Input from a process the agent does not trust: it is fuzzed
/// (Fuzz/, docs/fuzzing.md).
public enum RuntimeLine {
    public enum Line: Sendable, Equatable {
        case message(FunctionMessage)
        case blank
        case problem(String)
    }

    /// One line as a message. A `result`, the message of every
    /// invocation, is read in one pass and its value kept as the bytes it came as; any other
    /// message is parsed into values.
    public static func read(_ line: UnsafeBufferPointer<UInt8>, maxLineBytes: Int = RuntimeProtocol.maxLineBytes) -> Line {
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) { return .blank }
        if line.count > maxLineBytes { return .problem("fd 3 carried a line longer than \(maxLineBytes) bytes") }
        switch JSONScanner.members(of: line, maxDepth: RuntimeProtocol.maxLineDepth) {
        case .failure(let problem):
            return .problem("fd 3 carried a line that is not JSON (\(problem.description)): \(preview(line))")
        case .success(let members?):
            if let result = quickResult(line, members) { return .message(result) }
        case .success(nil):
            break
        }
        switch JSONCodec.parse(Array(line), maxDepth: RuntimeProtocol.maxLineDepth, maxBytes: maxLineBytes) {
        case .success(let value):
            guard let members = value.objectValue, members["type"]?.stringValue != nil else {
                return .problem("a message on fd 3 is not a JSON object with a string \"type\": \(value.excerpt())")
            }
            return .message(FunctionMessage(members))
        case .failure(let error):
            return .problem("fd 3 carried a line that is not JSON (\(error.message)): \(preview(line))")
        }
    }

    /// `{"type":"result","id":"…","result":…}` with plain (unescaped) names and id, in any order;
    /// nil for anything else, which the full parse then reads.
    private static func quickResult(_ line: UnsafeBufferPointer<UInt8>, _ members: [JSONScanner.Member]) -> FunctionMessage? {
        var isResult = false
        var id: String?
        var value = RawJSON.null
        for member in members {
            if member.hasKey("type", in: line) {
                guard member.kind == .string, !member.valueHasEscapes else { return nil }
                isResult = UnsafeBufferPointer(rebasing: line[member.value]).elementsEqual(#""result""#.utf8)
            } else if member.hasKey("id", in: line) {
                guard member.kind == .string, !member.valueHasEscapes else { return nil }
                let text = line[(member.value.lowerBound + 1)..<(member.value.upperBound - 1)]
                id = String(decoding: UnsafeBufferPointer(rebasing: text), as: UTF8.self)
            } else if member.hasKey("result", in: line) {
                value = RawJSON(validated: Array(line[member.value]))
            } else if member.keyHasEscapes {
                return nil
            }
        }
        guard isResult, let id else { return nil }
        return .result(id: .string(id), value: value)
    }

    private static func preview(_ line: UnsafeBufferPointer<UInt8>) -> String {
        String(decoding: line.prefix(60), as: UTF8.self)
    }

}
