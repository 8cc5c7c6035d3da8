#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import EdgePOSIX

/// The secret every request must carry when the dashboard has one: `Authorization: Bearer`,
/// `?token=` (the first page load; the page passes it on to its event stream), or the cookie the
/// server sets on that load (for the page's script and style sheet). Compared in constant time.
struct AccessToken: Sendable {
    static let variable = "EDGECTL_DASHBOARD_TOKEN"
    static let cookie = "edgectl_dashboard_token"
    static let minimumLength = 16
    private let bytes: [UInt8]

    /// A token as given (`load` checks it first).
    init(_ token: String) { bytes = Array(token.utf8) }

    /// From `--token-file` (its first line), else `$EDGECTL_DASHBOARD_TOKEN`; nil when neither is set.
    static func load(file: String?) throws -> AccessToken? {
        let text: String
        let source: String
        if let file {
            let read: [UInt8]
            do { read = try Files.read(file, maxBytes: 4096) } catch { throw ValidationError("--token-file: cannot read \(file): \(error.reason)") }
            text = String(decoding: read.split(separator: 0x0A, omittingEmptySubsequences: false).first ?? [], as: UTF8.self)
            source = "the first line of \(file) (--token-file)"
        } else if let value = ConnectionSettings.environment(variable) {
            text = value
            source = "$\(variable)"
        } else {
            return nil
        }
        let token = trimmed(text)
        let allowed = token.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x2D || byte == 0x2E || byte == 0x5F || byte == 0x7E
        }
        guard token.utf8.count >= minimumLength, allowed else {
            throw ValidationError("the token in \(source) must be at least \(minimumLength) characters of A-Z, a-z, 0-9, '-', '.', '_' and '~': "
                                  + "make one with `openssl rand -hex 32 > dashboard.token`")
        }
        return AccessToken(token)
    }

    private static func trimmed(_ text: String) -> String {
        let blank: Set<Character> = [" ", "\t", "\r"]
        var text = Substring(text)
        while let first = text.first, blank.contains(first) { text = text.dropFirst() }
        while let last = text.last, blank.contains(last) { text = text.dropLast() }
        return String(text)
    }

    /// Whether `given` is the token, in time that depends only on the token's length.
    func matches(_ given: some StringProtocol) -> Bool {
        let given = Array(given.utf8)
        var difference: UInt8 = given.count == bytes.count ? 0 : 1
        for index in bytes.indices {
            difference |= bytes[index] ^ (index < given.count ? given[index] : 0)
        }
        return difference == 0
    }
}
