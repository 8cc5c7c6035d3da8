import EdgeCore

/// What `edgectl --version` prints.
enum EdgectlVersion {
    static let text = "edgectl \(ProductVersion.text)"
}
