#if canImport(Glibc)
import Glibc
#endif

/// Whether a file system has room for what is about to be written, checked before anything is.
enum FreeSpace {
    /// Throws "not enough space in DIR: need X, have Y" when `bytes` of files (each rounded up to
    /// a 4 KiB block, plus a block for each entry) or `entries` inodes do not fit in what an
    /// unprivileged user may still use there.
    static func check(_ directory: String, bytes: Int, entries: Int) throws(ArtifactError) {
        var info = statvfs()
        guard statvfs(directory, &info) == 0 else { return }  // unknown: the writes will say
        let block = 4096
        let need = bytes.addingReportingOverflow(entries.multipliedReportingOverflow(by: block).partialValue).partialValue
        let have = Int(clamping: UInt64(info.f_bavail) &* UInt64(info.f_frsize))
        if need > have {
            throw ArtifactError("not enough space in \(directory) to unpack: need \(megabytes(need)), have \(megabytes(have)); free space on that file system or ship a smaller artifact")
        }
        // File systems without an inode count (btrfs) say 0 files in all.
        if info.f_files > 0 && UInt64(entries) > UInt64(info.f_favail) {
            throw ArtifactError("not enough inodes in \(directory) to unpack: need \(entries), have \(info.f_favail); free some or ship fewer files")
        }
    }

    static func megabytes(_ bytes: Int) -> String {
        let tenths = Int((Double(bytes) / Double(1 << 20) * 10).rounded())
        return "\(tenths / 10).\(tenths % 10) MB"
    }
}
