/// A path inside an archive, checked lexically so that it can never leave the extraction root.
public enum ArchivePath {
    /// Returns the normalised relative components, or throws for: absolute paths, any `..` component
    /// (every one is rejected, even one that would stay inside, to keep the rule simple), empty names, NUL bytes.
    /// `.` and empty components are dropped, so `.` or `./` yields `[]`, meaning the root itself.
    public static func confined(_ raw: String) throws(ArtifactError) -> [String] {
        if raw.isEmpty {
            throw ArtifactError("archive entry has an empty name; the archive is malformed")
        }
        if raw.utf8.contains(0) {
            throw ArtifactError("archive entry \"\(raw.replacingNULs())\" contains a NUL byte; refusing to extract it")
        }
        if raw.hasPrefix("/") {
            throw ArtifactError("archive entry \"\(raw)\" is an absolute path; only paths relative to the extraction directory are allowed")
        }
        var components: [String] = []
        for part in raw.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." {
                throw ArtifactError("archive entry \"\(raw)\" contains a \"..\" component; refusing to extract outside the target directory")
            }
            components.append(String(part))
        }
        return components
    }
}

extension String {
    /// Shows NUL bytes as `\0` so a message doesn't get cut short by C consumers.
    func replacingNULs() -> String {
        var out = ""
        for scalar in unicodeScalars {
            if scalar == "\0" { out += "\\0" } else { out.unicodeScalars.append(scalar) }
        }
        return out
    }
}
