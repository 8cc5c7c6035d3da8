import CZlib

/// gzip decompression via zlib (inflateInit2 with 16+MAX_WBITS), with an output cap so a zip bomb fails cleanly.
public enum Gzip {
    /// Whether `bytes` start with the gzip magic number 1f 8b.
    public static func isGzip(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
    }

    /// Inflates all gzip members in `bytes` (concatenated members are allowed, as gzip(1) allows them).
    /// Throws as soon as the output would exceed `maxOutputBytes`, before allocating more.
    public static func decompress(_ bytes: [UInt8], maxOutputBytes: Int) throws(ArtifactError) -> [UInt8] {
        guard isGzip(bytes) else {
            throw ArtifactError("data is not gzip-compressed (no 1f 8b magic bytes); check the archive format")
        }
        var stream = z_stream()
        let initResult = inflateInit2_(&stream, 16 + MAX_WBITS, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard initResult == Z_OK else {
            throw ArtifactError("zlib could not start decompressing (error \(initResult))")
        }
        defer { inflateEnd(&stream) }

        var output: [UInt8] = []
        let chunkSize = 64 * 1024
        let chunk = UnsafeMutablePointer<UInt8>.allocate(capacity: chunkSize)
        defer { chunk.deallocate() }

        try bytes.withUnsafeBufferPointer { (input) throws(ArtifactError) in
            guard let base = input.baseAddress else { return }
            var consumed = 0
            while true {
                // avail_in is 32-bit; feed large inputs in slices.
                if stream.avail_in == 0 && consumed < input.count {
                    let slice = min(input.count - consumed, Int(UInt32.max))
                    stream.next_in = UnsafeMutablePointer(mutating: base + consumed)
                    stream.avail_in = UInt32(slice)
                    consumed += slice
                }
                stream.next_out = chunk
                stream.avail_out = UInt32(chunkSize)
                let result = inflate(&stream, Z_NO_FLUSH)
                let produced = chunkSize - Int(stream.avail_out)
                if produced > 0 {
                    guard produced <= maxOutputBytes - output.count else {
                        throw ArtifactError("gzip data expands to more than the limit of \(maxOutputBytes) bytes; it is too large or a decompression bomb")
                    }
                    output.append(contentsOf: UnsafeBufferPointer(start: chunk, count: produced))
                }
                let remaining = Int(stream.avail_in) + (input.count - consumed)
                switch result {
                case Z_OK:
                    continue
                case Z_STREAM_END:
                    if remaining == 0 { return }
                    let next = input.count - remaining
                    guard remaining >= 2, base[next] == 0x1f, base[next + 1] == 0x8b else {
                        throw ArtifactError("gzip data has \(remaining) unexpected trailing bytes after the compressed stream; the file is corrupt")
                    }
                    // Another member follows: restart the decoder, keeping the input position.
                    guard inflateReset(&stream) == Z_OK else {
                        throw ArtifactError("zlib could not restart for the next gzip member")
                    }
                case Z_BUF_ERROR where remaining == 0 && produced == 0:
                    throw ArtifactError("gzip data is truncated: the compressed stream ends early; the download or file is incomplete")
                case Z_BUF_ERROR:
                    continue
                default:
                    let detail = stream.msg.map { String(cString: $0) } ?? "error \(result)"
                    throw ArtifactError("gzip data is corrupt: \(detail)")
                }
            }
        }
        return output
    }
}
