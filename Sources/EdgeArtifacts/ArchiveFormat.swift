/// How an artifact archive is packed.
public enum ArchiveFormat: String, Sendable {
    case tar
    case tarGz = "tar.gz"
}
