/// The version of edge-agent and edgectl, which ship together.
public enum ProductVersion {
    public static let text = "0.1.0"
}
