/// A password file as the agent and edgectl read it: its first line (a trailing CR dropped, so a
/// file written on Windows works), nothing after it.
public enum PasswordFile {
    public static let maxBytes = 4096

    /// The password, or nil when the first line is empty.
    public static func password(from bytes: [UInt8]) -> String? {
        var line = bytes.split(separator: UInt8(ascii: "\n"), maxSplits: 1, omittingEmptySubsequences: false).first ?? []
        if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
        return line.isEmpty ? nil : String(decoding: line, as: UTF8.self)
    }
}
