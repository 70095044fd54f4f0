import AlexConv
import AlexConvImages
import Foundation
import TestSupport
import Testing

// MARK: - Truncated and bit-flipped copies of every committed fixture

@Suite("Hostile files: truncated and bit-flipped copies of every fixture")
struct HostileDamageTests {
    /// Cuts per file: the file cut at k/16 of its length for k = 0 ..< 16 (0 = empty file).
    static let cuts = 16
    /// Damaged headers per file: bits flipped in the first 256 bytes by a fixed-seed generator.
    static let flipsPerFile = 12
    static let headerBytes = 256

    @Test("truncated at every 1/16th: refused with exit code 3", arguments: HostileFiles.committedFixtures)
    func truncated(relative: String) throws {
        let bytes = HostileFiles.bytes(relative)
        let name = (relative as NSString).lastPathComponent
        var refused = 0
        for k in 0..<Self.cuts {
            let length = bytes.count * k / Self.cuts
            let path = HostileFiles.write(Array(bytes.prefix(length)), named: name, label: "truncated")
            defer { HostileFiles.remove(path) }
            if case .refused = loadHostile(path) { refused += 1 }
        }
        // A cut file never holds a whole model; the only exceptions are files that were never a
        // model (a bare pickle or zip fixture), which are refused whole as well.
        #expect(refused == Self.cuts, "\(relative): \(Self.cuts - refused) truncated copies were read as models")
        HostileCaseCounter.shared.add("truncations", Self.cuts)
    }

    @Test("bit flips in the first 256 bytes: refused or read, never a crash", arguments: HostileFiles.committedFixtures)
    func bitFlips(relative: String) throws {
        let original = HostileFiles.bytes(relative)
        guard !original.isEmpty else { return }
        let name = (relative as NSString).lastPathComponent
        var rng = SplitMix64(seed: 0xA1E7_C0DE ^ UInt64(original.count))
        for flip in 0..<Self.flipsPerFile {
            var bytes = original
            let span = min(Self.headerBytes, bytes.count)
            // Half the cases flip one bit, half flip three (a damaged length and its neighbours).
            for _ in 0..<(flip % 2 == 0 ? 1 : 3) {
                let bit = Int(rng.next() % UInt64(span * 8))
                bytes[bit / 8] ^= UInt8(1 << (bit % 8))
            }
            let path = HostileFiles.write(bytes, named: name, label: "bitflip")
            defer { HostileFiles.remove(path) }
            _ = loadHostile(path)  // the contract is checked inside; a clean read is allowed
        }
        HostileCaseCounter.shared.add("bit flips", Self.flipsPerFile)
    }

    static let images = ["images/astronaut.jpg", "images/chelsea.png", "images/coffee.jpg", "images/coffee.png"]

    @Test("images truncated and bit-flipped: decoded or refused with a FormatError", arguments: images)
    func damagedImages(relative: String) throws {
        let original = HostileFiles.bytes(relative)
        let name = (relative as NSString).lastPathComponent
        var rng = SplitMix64(seed: 7)
        var variants: [[UInt8]] = (0..<Self.cuts).map { Array(original.prefix(original.count * $0 / Self.cuts)) }
        for _ in 0..<Self.flipsPerFile {
            var bytes = original
            let bit = Int(rng.next() % UInt64(min(Self.headerBytes, bytes.count) * 8))
            bytes[bit / 8] ^= UInt8(1 << (bit % 8))
            variants.append(bytes)
        }
        for bytes in variants {
            let path = HostileFiles.write(bytes, named: name, label: "image")
            defer { HostileFiles.remove(path) }
            do {
                let image = try ImageDecoder.decode(path: path)
                #expect(image.pixels.count == image.width * image.height * 3)
            } catch let error as any UserFacingError {
                #expect(error.exitCode == ExitStatus.invalidInput)
                #expect(!error.description.contains("\n"))
            }
        }
        HostileCaseCounter.shared.add("images", variants.count)
    }
}

// MARK: - Regressions found by fuzzing

@Suite("Hostile files: fuzzing regressions")
struct HostileFuzzRegressionTests {
    /// FuzzKerasHDF5 found it: a global heap collection whose free-space object (index 0) has size 0
    /// makes libhdf5 (1.10 and 1.14) loop forever in H5HG's collection parser while reading any
    /// variable-length string attribute stored there. GlobalHeapCollection must refuse it before libhdf5
    /// sees it. Built here from keras3_bn.h5 by zeroing the size of that free-space object.
    @Test("global heap free space of size 0 is refused, not a hang")
    func zeroSizeGlobalHeapFreeSpace() throws {
        var bytes = HostileFiles.bytes("keras/keras3_bn.h5")
        let patched = try #require(zeroFreeSpaceSize(&bytes))
        #expect(patched)
        let path = HostileFiles.write(bytes, named: "free_space_zero.h5")
        defer { HostileFiles.remove(path) }
        expectRefusal(path, containing: "global heap")
    }

    /// FuzzSafetensors found it: a canonical file whose embedded spec has a conv stride of 0 made
    /// shape inference divide by zero (a trap) before the spec's own checks ran.
    @Test("embedded spec with stride 0 is refused, not a trap")
    func zeroStrideInEmbeddedSpec() {
        expectRefusal(FixturePaths.path("hostile/spec-zero-stride.safetensors"), containing: "stride [0, 1]")
    }

    /// Zeroes the size of the first free-space object of the second global heap collection.
    func zeroFreeSpaceSize(_ bytes: inout [UInt8]) -> Bool? {
        func u64(_ at: Int) -> Int { (0..<8).reduce(0) { $0 | Int(bytes[at + $1]) << (8 * $1) } }
        var collections: [Int] = []
        var i = 0
        while i + 16 <= bytes.count {
            if bytes[i] == 0x47, bytes[i + 1] == 0x43, bytes[i + 2] == 0x4F, bytes[i + 3] == 0x4C, bytes[i + 4] == 1 { collections.append(i) }
            i += 1
        }
        for start in collections {
            let end = start + u64(start + 8)
            var offset = start + 16
            while offset + 16 <= end, end <= bytes.count {
                let index = Int(bytes[offset]) | Int(bytes[offset + 1]) << 8
                let size = u64(offset + 8)
                if index == 0 {
                    for b in 0..<8 { bytes[offset + 8 + b] = 0 }
                    return true
                }
                offset += 16 + (size + 7) / 8 * 8
            }
        }
        return nil
    }
}
