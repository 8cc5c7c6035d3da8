#if canImport(Glibc)
import Glibc
#endif
import EdgeCore
import EdgePOSIX

/// The broker password: given in the configuration or the environment, or read from the file
/// `broker.passwordFile` names (its first line). Never logged.
enum BrokerPassword {
    static let maxBytes = 4096

    static func read(_ credentials: AgentConfiguration.Credentials, logger: Logger) throws(StartupError) -> String? {
        guard let path = credentials.passwordFile else { return credentials.password }
        let bytes: [UInt8]
        do {
            bytes = try Files.read(path, maxBytes: maxBytes)
        } catch {
            throw StartupError("broker.passwordFile: cannot read \(path) (\(error.reason.lowercased())): the file must exist and be readable by the agent's user")
        }
        let line = bytes.split(separator: UInt8(ascii: "\n"), maxSplits: 1, omittingEmptySubsequences: false).first ?? []
        let password = String(decoding: line.last == UInt8(ascii: "\r") ? line.dropLast() : line, as: UTF8.self)
        guard !password.isEmpty else {
            throw StartupError("broker.passwordFile: \(path) is empty: its first line must be the password")
        }
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & 0o077 != 0 {
            logger.warning("the broker password file can be read by other users: chmod 600 it", ("file", path))
        }
        return password
    }
}
