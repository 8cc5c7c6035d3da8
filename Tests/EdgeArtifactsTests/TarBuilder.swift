/// Builds ustar archives in memory, so tests can craft entries no well-behaved tool would write.
struct TarBuilder {
    private(set) var bytes: [UInt8] = []

    mutating func file(_ name: String, _ content: String, mode: UInt32 = 0o644) {
        entry(name, type: "0", mode: mode, data: Array(content.utf8))
    }

    mutating func directory(_ name: String, mode: UInt32 = 0o755) {
        entry(name, type: "5", mode: mode)
    }

    mutating func symlink(_ name: String, to target: String) {
        entry(name, type: "2", mode: 0o777, link: target)
    }

    mutating func entry(_ name: String, type: Character, mode: UInt32 = 0o644, data: [UInt8] = [], link: String = "") {
        var header = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, at offset: Int) {
            for (index, byte) in text.utf8.enumerated() { header[offset + index] = byte }
        }
        func octal(_ value: Int, width: Int) -> String {
            let digits = String(value, radix: 8)
            return String(repeating: "0", count: width - 1 - digits.count) + digits
        }
        put(name, at: 0)
        put(octal(Int(mode), width: 8), at: 100)
        put(octal(0, width: 8), at: 108)
        put(octal(0, width: 8), at: 116)
        put(octal(data.count, width: 12), at: 124)
        put(octal(0, width: 12), at: 136)
        put("        ", at: 148)
        header[156] = type.asciiValue!
        put(link, at: 157)
        put("ustar\0", at: 257)
        put("00", at: 263)
        let sum = header.reduce(0) { $0 + Int($1) }
        put(octal(sum, width: 7), at: 148)
        header[154] = 0
        header[155] = UInt8(ascii: " ")
        bytes += header
        bytes += data
        bytes += [UInt8](repeating: 0, count: (512 - data.count % 512) % 512)
    }

    /// The archive with its two-block end marker.
    var archive: [UInt8] { bytes + [UInt8](repeating: 0, count: 1024) }
}
