#if canImport(Glibc)
import Glibc
#endif
import EdgeCore
import EdgePOSIX

/// The broker password: given in the configuration or the environment, or read from the file
/// `broker.passwordFile` names (its first line). Never logged.
enum BrokerPassword {
    static func read(_ credentials: AgentConfiguration.Credentials, logger: Logger) throws(StartupError) -> String? {
        guard let path = credentials.passwordFile else { return credentials.password }
        let bytes: [UInt8]
        do {
            bytes = try Files.read(path, maxBytes: PasswordFile.maxBytes)
        } catch {
            throw StartupError("broker.passwordFile: cannot read \(path) (\(error.reason.lowercased())): the file must exist and be readable by the agent's user")
        }
        guard let password = PasswordFile.password(from: bytes) else {
            throw StartupError("broker.passwordFile: \(path) is empty: its first line must be the password")
        }
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & 0o077 != 0 {
            logger.warning("the broker password file can be read by other users: chmod 600 it", ("file", path))
        }
        return password
    }
}
