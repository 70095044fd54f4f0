import AlexConvCore
import Foundation

// MARK: - Resuming an interrupted evaluation

/// The `--resume FILE` of `evaluate`: JSON Lines, a header then one record per image seen, so an
/// interrupted run over 50,000 images continues where it stopped.
///
/// ```
/// {"format":"alexconv-evaluate-resume","version":1,"weights":"1a2b3c4d","preprocessing":"...","labels":"image-folder","top":5,"reduceLargeJPEGs":true}
/// {"image":"n01440764/ILSVRC2012_val_00000293.JPEG","label":0,"top":[0,389,391,395,1],"probabilities":[0.91,0.02,...]}
/// {"image":"n01440764/broken.JPEG","label":0,"unreadable":"...: invalid JPEG image: ..."}
/// ```
/// The header ties the file to the model's weights (CRC-32C of every canonical tensor), its
/// preprocessing (after any override), the label source and the classes kept per image; a file
/// that does not match is refused rather than mixed in. The file is rewritten atomically (every
/// few seconds, at the end and when interrupted), never appended to, so it is never half-written.
public enum ResumeFile {
    /// The header line.
    public struct Header: Codable, Equatable, Sendable {
        /// Always `alexconv-evaluate-resume`.
        public var format = "alexconv-evaluate-resume"
        /// Format version, 1.
        public var version = 1
        /// CRC-32C (hex) over the canonical tensors' names and float32 bytes.
        public var weights: String
        /// The input spec as JSON (the preprocessing every record was made with).
        public var preprocessing: String
        /// The label source (`LabelSource` raw value).
        public var labels: String
        /// Classes kept per image.
        public var top: Int
        /// Whether large JPEGs were decoded reduced.
        public var reduceLargeJPEGs: Bool

        /// The header for `model` evaluated with `input` preprocessing.
        public init(model: Model, input: InputSpec, labels: LabelSource, top: Int, reduceLargeJPEGs: Bool) {
            weights = String(format: "%08x", ResumeFile.fingerprint(model))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            preprocessing = String(decoding: (try? encoder.encode(input)) ?? Data(), as: UTF8.self)
            self.labels = labels.rawValue
            self.top = top
            self.reduceLargeJPEGs = reduceLargeJPEGs
        }
    }

    /// One image seen: its prediction or why it could not be used.
    public struct Record: Codable, Equatable, Sendable {
        /// Path relative to the image folder.
        public var image: String
        /// Its label, when labelled.
        public var label: Int?
        /// Best classes, most probable first.
        public var top: [Int]?
        /// Their softmax probabilities.
        public var probabilities: [Float]?
        /// Why the image could not be used.
        public var unreadable: String?

        /// A prediction.
        public init(image: String, label: Int?, top: [Int], probabilities: [Float]) {
            self.image = image
            self.label = label
            self.top = top
            self.probabilities = probabilities
        }

        /// An image that could not be used.
        public init(image: String, label: Int?, unreadable: String) {
            self.image = image
            self.label = label
            self.unreadable = unreadable
        }
    }

    /// Largest resume file read.
    public static let maxBytes = 4 << 30

    /// CRC-32C over every canonical tensor's name and float32 bytes, in the model's order.
    public static func fingerprint(_ model: Model) -> UInt32 {
        var crc: UInt32 = 0
        for named in model.tensors {
            crc = Array(named.name.utf8).withUnsafeBytes { CRC32C.update(crc, $0) }
            try? named.tensor.forEachChunk(as: .float32) { crc = CRC32C.update(crc, $0) }
        }
        return crc
    }

    /// Throws unless `path` may be used as a resume file: not an input, not a directory, and either
    /// absent or a resume file already (it is then continued and replaced, without `--force`).
    public static func checkWritable(_ path: String, inputs: [String]) throws {
        let exists = FileManager.default.fileExists(atPath: path)
        try OutputRule.check(path, inputs: inputs, overwrite: true)
        if exists {
            let handle = FileHandle(forReadingAtPath: path)
            let start = (try? handle?.read(upToCount: 64)) ?? nil
            try? handle?.close()
            let text = String(decoding: start ?? Data(), as: UTF8.self)
            guard text.hasPrefix("{\"format\":\"alexconv-evaluate-resume\"") else {
                throw UsageError("\(path): exists and is not an alexconv evaluate resume file; name a new file or an earlier run's resume file")
            }
        }
    }

    /// The records of the resume file at `path`, which must match `header`.
    public static func load(path: String, expecting header: Header) throws -> [Record] {
        let data = try readSmallFile(path, what: "resume file", limit: maxBytes)
        let decoder = JSONDecoder()
        var records: [Record] = []
        var number = 0
        for line in data.split(separator: 0x0A, omittingEmptySubsequences: true) {
            number += 1
            if number == 1 {
                guard let found = try? decoder.decode(Header.self, from: Data(line)), found.format == header.format else {
                    throw FormatError(.malformed, file: path, location: "line 1", "not an alexconv evaluate resume file (expected its header line)")
                }
                guard found.version == header.version else {
                    throw FormatError(.unsupported, file: path, location: "line 1", "resume file version \(found.version), this alexconv writes version \(header.version)")
                }
                for (field, then, now) in [
                    ("model weights", found.weights, header.weights), ("preprocessing", found.preprocessing, header.preprocessing),
                    ("label source", found.labels, header.labels), ("classes kept per image", "\(found.top)", "\(header.top)"),
                    ("JPEG reduction", "\(found.reduceLargeJPEGs)", "\(header.reduceLargeJPEGs)"),
                ] where then != now {
                    throw UsageError("\(path): made with other \(field) (\(LabelFile.clip(then)) there, \(LabelFile.clip(now)) now); resume with the same model and options, or name a new file")
                }
                continue
            }
            do {
                records.append(try decoder.decode(Record.self, from: Data(line)))
            } catch {
                throw FormatError(
                    .malformed, file: path, location: "line \(number)", "not a resume record (expected {\"image\", \"label\", \"top\", \"probabilities\"} or {\"image\", \"label\", \"unreadable\"})")
            }
        }
        guard number > 0 else { throw FormatError(.malformed, file: path, "empty resume file (expected its header line)") }
        return records
    }

    /// Replaces the resume file at `path` with `header` and `records` (atomically).
    public static func write(path: String, header: Header, records: [Record]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        try writeAtomically(to: path, overwrite: true) { writer in
            // Sorted keys put `format` first, so the file is recognisable from its first bytes.
            try writer.write(String(decoding: try encoder.encode(header), as: UTF8.self) + "\n")
            var chunk = ""
            for record in records {
                chunk += String(decoding: try encoder.encode(record), as: UTF8.self) + "\n"
                if chunk.utf8.count > 1 << 20 {
                    try writer.write(chunk)
                    chunk = ""
                }
            }
            try writer.write(chunk)
        }
    }
}
