/// One entry of a tar archive (ustar, GNU long names 'L'/'K', and pax 'x' headers for path/linkpath; pax 'g' ignored).
public struct TarEntry: Sendable {
    /// What the entry creates.
    public enum Kind: Sendable {
        case file
        case directory
        case symlink(target: String)
        case hardlink(target: String)
        /// Any other type flag (devices, FIFOs, sparse files, ...), kept raw so callers can name it.
        case other(UInt8)
    }

    /// The entry's name as stored (after long-name and pax overrides), not yet confined.
    public var path: String
    public var kind: Kind
    /// Permission bits as stored in the header, including setuid/setgid/sticky.
    public var mode: UInt32
    /// Length of the entry's data in bytes.
    public var size: Int
    /// Offset of the entry's data within the archive bytes.
    public var dataOffset: Int
}
