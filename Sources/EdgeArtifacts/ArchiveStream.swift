#if canImport(Glibc)
import Glibc
#endif
import CZlib
import EdgePOSIX

/// An archive file read as a stream of tar bytes, in bounded memory: the file itself for a
/// `.tar`, or inflated as it is read for a `.tar.gz` (gzip members one after the other, as
/// gzip(1) allows). Never more than two 64 KiB buffers are held, whatever the archive's size;
/// `maxOutputBytes` stops a decompression bomb as soon as the stream passes it.
final class ArchiveStream: TarByteSource {
    private let file: FileDescriptor
    private let path: String
    private let gzip: Bool
    private let maxOutputBytes: Int
    private var stream = z_stream()
    private var inflating = false
    private let input = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
    private var inputEnded = false
    /// Bytes handed out so far.
    private(set) var position = 0

    /// Opens the archive; `format` is what the deployment declared (gzip is recognised by its magic bytes too).
    init(path: String, format: ArchiveFormat, maxOutputBytes: Int) throws(ArtifactError) {
        self.path = path
        self.maxOutputBytes = maxOutputBytes
        file = try openFile(path, O_RDONLY | O_NONBLOCK, purpose: "unpacking")
        guard try status(of: file, path).kind == .regular else { throw ArtifactError("\(path) is not a regular file") }
        let count = try readSome(file, UnsafeMutableRawBufferPointer(rebasing: input[0..<2]), path: path)
        gzip = count == 2 && input[0] == 0x1f && input[1] == 0x8b
        if !gzip && format == .tarGz {
            throw ArtifactError("archive \(path) was declared as tar.gz but is not gzip-compressed; check the artifact's format")
        }
        if lseek(file.rawValue, 0, SEEK_SET) != 0 { throw ArtifactError("cannot rewind \(path)") }
        if gzip {
            guard inflateInit2_(&stream, 16 + MAX_WBITS, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                throw ArtifactError("zlib could not start decompressing \(path)")
            }
            inflating = true
        }
    }

    deinit {
        if inflating { inflateEnd(&stream) }
        input.deallocate()
    }

    /// Up to `buffer.count` bytes of the tar stream; 0 at its end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(ArtifactError) -> Int {
        guard buffer.count > 0 else { return 0 }
        let count = gzip ? try inflate(into: buffer) : try readSome(file, buffer, path: path)
        position += count
        if position > maxOutputBytes {
            throw ArtifactError("archive \(path) unpacks to more than the limit of \(maxOutputBytes) bytes; it is too large or a decompression bomb")
        }
        return count
    }

    private func inflate(into buffer: UnsafeMutableRawBufferPointer) throws(ArtifactError) -> Int {
        while true {
            if stream.avail_in == 0 && !inputEnded {
                let count = try readSome(file, input, path: path)
                if count == 0 {
                    inputEnded = true
                } else {
                    stream.next_in = input.baseAddress!.assumingMemoryBound(to: UInt8.self)
                    stream.avail_in = UInt32(count)
                }
            }
            stream.next_out = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
            stream.avail_out = UInt32(buffer.count)
            let result = CZlib.inflate(&stream, Z_NO_FLUSH)
            let produced = buffer.count - Int(stream.avail_out)
            switch result {
            case Z_OK:
                if produced > 0 { return produced }
            case Z_STREAM_END:
                // Another member may follow; anything else after the stream is corruption.
                if stream.avail_in == 0 && !inputEnded {
                    let count = try readSome(file, input, path: path)
                    if count == 0 { inputEnded = true } else {
                        stream.next_in = input.baseAddress!.assumingMemoryBound(to: UInt8.self)
                        stream.avail_in = UInt32(count)
                    }
                }
                if stream.avail_in == 0 && inputEnded { return produced }
                guard stream.avail_in >= 2, stream.next_in[0] == 0x1f, stream.next_in[1] == 0x8b else {
                    throw ArtifactError("archive \(path): gzip data has unexpected trailing bytes after the compressed stream; the file is corrupt")
                }
                guard inflateReset(&stream) == Z_OK else { throw ArtifactError("zlib could not restart for the next gzip member") }
                if produced > 0 { return produced }
            case Z_BUF_ERROR where stream.avail_in == 0 && inputEnded:
                if produced > 0 { return produced }
                throw ArtifactError("archive \(path): gzip data is truncated: the compressed stream ends early; the download or file is incomplete")
            case Z_BUF_ERROR:
                if produced > 0 { return produced }
            default:
                let detail = stream.msg.map { String(cString: $0) } ?? "error \(result)"
                throw ArtifactError("archive \(path): gzip data is corrupt: \(detail)")
            }
        }
    }
}
