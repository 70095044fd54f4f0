import AlexConvCore
import CImageCodecs
import Foundation

// MARK: - Decoded images

/// An 8-bit RGB image, pixels interleaved row-major (height, width, 3).
public struct RGBImage: Sendable {
    /// Columns.
    public let width: Int
    /// Rows.
    public let height: Int
    /// (height, width, 3) bytes, R G B.
    public let pixels: [UInt8]

    /// An image of `pixels`, (height, width, 3) bytes R G B, row-major.
    public init(width: Int, height: Int, pixels: [UInt8]) {
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}

/// Decodes PNG (libpng), JPEG (libjpeg-turbo) and PPM/PGM (P6, P3, P5, P2; in Swift) to RGB.
public enum ImageDecoder {
    /// Largest image accepted, in pixels (also enforced by the C shim before it allocates).
    public static let maxPixels = 100_000_000
    /// Largest image file read.
    public static let maxFileBytes = 512 << 20

    /// Decodes the image at `path` to RGB (height, width, 3); the format comes from the file's first bytes.
    /// With `atLeast` (width, height), a JPEG at least four times larger on both sides is reduced
    /// while decoding (libjpeg-turbo's DCT scaling by 1/2, 1/4 or 1/8), never below twice that size.
    public static func decode(path: String, atLeast: (width: Int, height: Int)? = nil) throws -> RGBImage {
        let storage = try ByteStorage.map(path: path)
        guard storage.bytes.count <= maxFileBytes else {
            throw FormatError(.limit, file: path, "image file of \(storage.bytes.count) bytes exceeds the limit \(maxFileBytes)")
        }
        return try withFileContext(path) { try decode(storage.bytes, atLeast: atLeast) }
    }

    /// Decodes image bytes (PNG, JPEG or PPM, by magic number) to RGB (height, width, 3); `atLeast`
    /// as in `decode(path:atLeast:)`.
    public static func decode(_ bytes: UnsafeRawBufferPointer, atLeast: (width: Int, height: Int)? = nil) throws -> RGBImage {
        let b = Array(bytes.prefix(8))
        if b.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return try decodeWithShim(bytes, kind: "PNG", acx_decode_png) }
        if b.starts(with: [0xFF, 0xD8, 0xFF]) {
            let width = UInt32(clamping: max(0, atLeast?.width ?? 0))
            let height = UInt32(clamping: max(0, atLeast?.height ?? 0))
            return try decodeWithShim(bytes, kind: "JPEG") { acx_decode_jpeg_at_least($0, $1, width, height, $2) }
        }
        if b.count >= 2, b[0] == UInt8(ascii: "P"), [UInt8(ascii: "2"), UInt8(ascii: "3"), UInt8(ascii: "5"), UInt8(ascii: "6")].contains(b[1]) {
            return try PortablePixmap.decode(bytes)
        }
        throw FormatError(.malformed, "not a PNG, JPEG or PPM image (first bytes \(b.prefix(4).map { String(format: "%02x", $0) }.joined(separator: " ")))")
    }

    private static func decodeWithShim(
        _ bytes: UnsafeRawBufferPointer, kind: String,
        _ decoder: (UnsafePointer<UInt8>?, Int, UnsafeMutablePointer<acx_image>?) -> Int32
    ) throws -> RGBImage {
        var image = acx_image()
        let ok = decoder(bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count, &image)
        defer { acx_image_free(&image) }
        guard ok == 1, let pixels = image.pixels else {
            let message = withUnsafeBytes(of: image.message) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            throw FormatError(.malformed, "invalid \(kind) image: \(message.isEmpty ? "decoder failed" : message)")
        }
        let width = Int(image.width)
        let height = Int(image.height)
        return RGBImage(width: width, height: height, pixels: Array(UnsafeBufferPointer(start: pixels, count: width * height * 3)))
    }
}

// MARK: - PPM / PGM

/// Netpbm pixmaps: P6 (binary RGB), P3 (text RGB), P5 (binary gray), P2 (text gray); maxval up to 65535.
enum PortablePixmap {
    static func decode(_ bytes: UnsafeRawBufferPointer) throws -> RGBImage {
        var position = 2
        let kind = bytes[1]
        func token() throws -> Int {
            // Skip whitespace and comments, then read a decimal number.
            while position < bytes.count {
                let c = bytes[position]
                if c == UInt8(ascii: "#") {
                    while position < bytes.count && bytes[position] != 0x0A { position += 1 }
                } else if c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D {
                    position += 1
                } else {
                    break
                }
            }
            var value = 0
            var digits = 0
            while position < bytes.count, bytes[position] >= 0x30, bytes[position] <= 0x39 {
                value = value * 10 + Int(bytes[position] - 0x30)
                digits += 1
                position += 1
                if digits > 9 { throw FormatError(.malformed, "PPM number too long at byte \(position)") }
            }
            guard digits > 0 else { throw FormatError(.malformed, "PPM header: expected a number at byte \(position)") }
            return value
        }
        let width = try token()
        let height = try token()
        let maxval = try token()
        guard width > 0, height > 0, width * height <= ImageDecoder.maxPixels else {
            throw FormatError(.limit, "PPM image of \(width)x\(height) pixels is empty or larger than the limit \(ImageDecoder.maxPixels)")
        }
        guard maxval > 0, maxval <= 65535 else { throw FormatError(.malformed, "PPM maxval \(maxval) outside 1...65535") }
        let channels = (kind == UInt8(ascii: "6") || kind == UInt8(ascii: "3")) ? 3 : 1
        let samples = width * height * channels
        let binary = kind == UInt8(ascii: "6") || kind == UInt8(ascii: "5")
        // Checked before allocating: binary samples take 1 or 2 bytes, text samples at least 2.
        let sampleBytes = binary ? (maxval < 256 ? 1 : 2) : 2
        let available = bytes.count - position - (binary ? 1 : 0)
        guard available >= samples * sampleBytes - (binary ? 0 : 1) else {
            throw FormatError(.truncated, "PPM data truncated: \(width)x\(height)x\(channels) samples need \(samples * sampleBytes) bytes, found \(max(0, available))")
        }
        var values = [Int](repeating: 0, count: samples)
        if binary {
            position += 1  // exactly one whitespace byte after maxval
            for i in 0..<samples {
                values[i] = sampleBytes == 1 ? Int(bytes[position + i]) : Int(bytes[position + 2 * i]) << 8 | Int(bytes[position + 2 * i + 1])
            }
        } else {
            for i in 0..<samples {
                do { values[i] = try token() } catch { throw FormatError(.truncated, "PPM text data truncated after \(i) of \(samples) samples") }
            }
        }
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for p in 0..<(width * height) {
            for c in 0..<3 {
                let v = values[p * channels + (channels == 3 ? c : 0)]
                guard v <= maxval else { throw FormatError(.corrupted, "PPM sample \(v) exceeds maxval \(maxval)") }
                pixels[p * 3 + c] = UInt8((v * 255 + maxval / 2) / maxval)
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }
}
