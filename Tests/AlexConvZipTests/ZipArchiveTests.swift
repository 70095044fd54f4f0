import AlexConvCore
import Foundation
import TestSupport
import Testing

@testable import AlexConvZip

// MARK: - Expected contents (the same formulas as Fixtures/torch/make_torch_fixtures.py)

let hello = Array("hello zip\n".utf8)
let counting: [UInt8] = (0..<40).flatMap { _ in (0..<256).map { UInt8($0) } }
let zeros = [UInt8](repeating: 0, count: 50000)

func contents(_ archive: ZipArchive, _ name: String) throws -> [UInt8] {
    let storage = try archive.bytes(named: name)
    return withExtendedLifetime(storage) { Array(storage.bytes) }
}

func zipFixture(_ name: String) -> String { FixturePaths.path("torch/zip/\(name)") }

// MARK: - Archives written by Python

@Test func readsPythonStoredZipWithComment() throws {
    let archive = try ZipArchive(path: zipFixture("python_stored.zip"))
    #expect(archive.entries.map(\.name) == ["hello.txt", "dir/counting.bin", "empty"])
    #expect(try contents(archive, "hello.txt") == hello)
    #expect(try contents(archive, "dir/counting.bin") == counting)
    #expect(try contents(archive, "empty") == [])
    for entry in archive.entries {
        #expect(entry.compression == .stored)
        try archive.verifyChecksum(of: entry)
    }
}

@Test func storedEntriesAreZeroCopyViewsOfTheMap() throws {
    let archive = try ZipArchive(path: zipFixture("python_stored.zip"))
    let entry = try #require(archive["dir/counting.bin"])
    let view = try archive.bytes(of: entry)
    #expect(view.bytes.baseAddress == archive.storage.bytes.baseAddress! + entry.dataOffset)
}

@Test func inflatesPythonDeflatedZip() throws {
    let archive = try ZipArchive(path: zipFixture("python_deflated.zip"))
    #expect(archive["zeros.bin"]?.compression == .deflated)
    #expect(try contents(archive, "hello.txt") == hello)
    #expect(try contents(archive, "dir/counting.bin") == counting)
    #expect(try contents(archive, "zeros.bin") == zeros)
    #expect(try contents(archive, "empty") == [])
}

@Test func readsForcedZip64Entries() throws {
    let archive = try ZipArchive(path: zipFixture("python_zip64.zip"))
    #expect(try contents(archive, "hello.txt") == hello)
    #expect(try contents(archive, "dir/counting.bin") == counting)
}

@Test(arguments: ["numpy_savez.npz", "numpy_savez_compressed.npz"])
func readsNumpySavez(_ file: String) throws {
    let archive = try ZipArchive(path: zipFixture(file))
    #expect(archive.entries.map(\.name) == ["a.npy", "b.npy"])
    let a = try contents(archive, "a.npy")
    #expect(Array(a.prefix(6)) == [0x93] + Array("NUMPY".utf8))
    // The last 48 bytes are the float32 values arange(12) / 8.
    let floats = a.suffix(48).withUnsafeBytes { raw in (0..<12).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) } }
    #expect(floats == (0..<12).map { Float($0) / 8 })
    let b = try contents(archive, "b.npy")
    let longs = b.suffix(48).withUnsafeBytes { raw in (0..<6).map { raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self) } }
    #expect(longs == [-3, -2, -1, 0, 1, 2])
}

@Test func readsTorchSaveArchiveWithFBPadding() throws {
    let archive = try ZipArchive(path: FixturePaths.path("torch/views.pth"))
    #expect(archive.entries.first?.name == "views/data.pkl")
    for entry in archive.entries {
        #expect(entry.dataOffset % 64 == 0, "\(entry.name) data at \(entry.dataOffset)")
        try archive.verifyChecksum(of: entry)
    }
    #expect(try contents(archive, "views/byteorder") == Array("little".utf8))
}

// MARK: - Writer round trips

@Test(arguments: [false, true])
func writerRoundTripsWithAlignment(_ zip64: Bool) throws {
    let dir = FixturePaths.temporaryDirectory("zip")
    let path = dir + "/out.zip"
    try writeAtomically(to: path) { file in
        let writer = ZipWriter(file: file, forceZip64: zip64)
        try writer.addEntry(name: "a/data.pkl", bytes: hello, alignment: 64)
        try writer.addEntry(name: "a/data/0", size: counting.count, alignment: 64) { sink in
            try sink.write(Array(counting[0..<1000]))
            try sink.write(Array(counting[1000...]))
        }
        try writer.addEntry(name: "a/empty", bytes: [])
        try writer.finish()
    }
    let archive = try ZipArchive(path: path)
    #expect(archive.entries.map(\.name) == ["a/data.pkl", "a/data/0", "a/empty"])
    #expect(archive["a/data.pkl"]!.dataOffset % 64 == 0)
    #expect(archive["a/data/0"]!.dataOffset % 64 == 0)
    #expect(try contents(archive, "a/data/0") == counting)
    for entry in archive.entries { try archive.verifyChecksum(of: entry) }
}

@Test func writerRejectsWrongSizesAndDuplicateNames() throws {
    let dir = FixturePaths.temporaryDirectory("zip")
    #expect(throws: ModelError.self) {
        try writeAtomically(to: dir + "/bad.zip") { file in
            let writer = ZipWriter(file: file)
            try writer.addEntry(name: "x", size: 3) { try $0.write([1, 2]) }
        }
    }
    #expect(throws: ModelError.self) {
        try writeAtomically(to: dir + "/dup.zip") { file in
            let writer = ZipWriter(file: file)
            try writer.addEntry(name: "x", bytes: [1])
            try writer.addEntry(name: "x", bytes: [2])
        }
    }
    #expect(!FileManager.default.fileExists(atPath: dir + "/bad.zip"))
}

// MARK: - Hostile archives

func mutated(_ file: String, _ change: (inout [UInt8]) -> Void) -> ByteStorage {
    var bytes = Array(FileManager.default.contents(atPath: file)!)
    change(&bytes)
    return ByteStorage(copying: bytes)
}

func putLE<T: FixedWidthInteger>(_ value: T, _ bytes: inout [UInt8], at offset: Int) {
    withUnsafeBytes(of: value.littleEndian) { for (i, b) in $0.enumerated() { bytes[offset + i] = b } }
}

func readLE32(_ bytes: [UInt8], at offset: Int) -> Int {
    Int(bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) })
}

func errorText(_ body: () throws -> Void) -> String {
    do {
        try body()
        return "no error"
    } catch { return "\(error)" }
}

@Test func rejectsTruncatedArchives() throws {
    let path = FixturePaths.path("torch/views.pth")
    let whole = Array(FileManager.default.contents(atPath: path)!)
    for cut in [0, 10, whole.count / 2, whole.count - 30, whole.count - 1] {
        let storage = ByteStorage(copying: whole.prefix(cut))
        let message = errorText { _ = try ZipArchive(storage: storage, path: "cut.pth") }
        #expect(message.hasPrefix("cut.pth: "), "\(cut): \(message)")
    }
}

@Test func rejectsOverlappingEntries() throws {
    // Two central headers pointing at the same local header: the second "entry" shares the
    // first one's bytes (the classic overlapping-entries zip bomb).
    let storage = mutated(zipFixture("python_stored.zip")) { bytes in
        let eocd = bytes.count - 22 - "an archive comment".utf8.count
        let directory = readLE32(bytes, at: eocd + 16)
        let third = directory + 46 + "hello.txt".utf8.count + 46 + "dir/counting.bin".utf8.count
        // Entry 3 ("empty") now claims to start inside entry 2's data.
        let second = directory + 46 + "hello.txt".utf8.count
        let secondLocal = readLE32(bytes, at: second + 42)
        // Write a fake local header for "empty" inside entry 2's data so only the overlap is wrong.
        let fake = secondLocal + 30 + "dir/counting.bin".utf8.count + 64
        putLE(UInt32(0x0403_4B50), &bytes, at: fake)
        putLE(UInt16(5), &bytes, at: fake + 26)
        putLE(UInt16(0), &bytes, at: fake + 28)
        for (i, b) in "empty".utf8.enumerated() { bytes[fake + 30 + i] = b }
        putLE(UInt32(fake), &bytes, at: third + 42)
    }
    let message = errorText { _ = try ZipArchive(storage: storage, path: "overlap.zip") }
    #expect(message.contains("overlap.zip") && message.contains("overlaps") && message.contains("empty"), "\(message)")
}

@Test func errorsNameTheCentralDirectoryEntry() throws {
    let storage = mutated(zipFixture("python_stored.zip")) { bytes in
        let eocd = bytes.count - 22 - "an archive comment".utf8.count
        let directory = readLE32(bytes, at: eocd + 16)
        let second = directory + 46 + "hello.txt".utf8.count
        bytes[second] = 0  // entry 1's signature
    }
    let error = #expect(throws: FormatError.self) { try ZipArchive(storage: storage, path: "signature.zip") }
    #expect(error?.kind == .malformed)
    #expect(error?.file == "signature.zip")
    #expect(error?.location?.hasPrefix("zip central directory entry 1 at byte ") == true, "\(String(describing: error))")
}

@Test func rejectsEntriesOutsideTheFile() throws {
    let storage = mutated(zipFixture("python_stored.zip")) { bytes in
        let eocd = bytes.count - 22 - "an archive comment".utf8.count
        let directory = readLE32(bytes, at: eocd + 16)
        let second = directory + 46 + "hello.txt".utf8.count
        putLE(UInt32(5_000_000), &bytes, at: second + 20)  // compressed size
        putLE(UInt32(5_000_000), &bytes, at: second + 24)  // uncompressed size
    }
    let message = errorText { _ = try ZipArchive(storage: storage, path: "range.zip") }
    #expect(message.contains("range.zip") && message.contains("dir/counting.bin"), "\(message)")
}

@Test func rejectsZipBombRatiosAndCorruptDeflate() throws {
    let bomb = mutated(zipFixture("python_deflated.zip")) { bytes in
        let eocd = bytes.count - 22
        let directory = readLE32(bytes, at: eocd + 16)
        putLE(UInt32(4_000_000_000), &bytes, at: directory + 24)  // hello.txt "inflates" to 4 GB
    }
    let message = errorText { _ = try ZipArchive(storage: bomb, path: "bomb.zip") }
    #expect(message.contains("hello.txt") && message.contains("ratio"), "\(message)")

    let archive = try ZipArchive(path: zipFixture("python_deflated.zip"))
    let entry = try #require(archive["dir/counting.bin"])
    let corrupt = mutated(zipFixture("python_deflated.zip")) { bytes in
        for i in entry.dataOffset..<(entry.dataOffset + 8) { bytes[i] ^= 0xFF }
    }
    let reread = try ZipArchive(storage: corrupt, path: "corrupt.zip")
    let inflateMessage = errorText { _ = try reread.bytes(of: reread["dir/counting.bin"]!) }
    #expect(inflateMessage.contains("corrupt.zip") && inflateMessage.contains("counting.bin"), "\(inflateMessage)")
}

@Test func missingEntryIsNamed() throws {
    let archive = try ZipArchive(path: zipFixture("python_stored.zip"))
    let message = errorText { _ = try archive.bytes(named: "nope/data/7") }
    #expect(message.contains("nope/data/7") && message.contains("missing"))
}

@Test func inflateBackendIsSystemZlibOnLinux() {
    #if os(Linux)
        #expect(ZipArchive.inflateBackend == "zlib")
    #endif
}

// MARK: - Mutations

/// Deterministic byte flips anywhere in real archives: opening and reading every entry either
/// works or throws a `FormatError`; never a crash, a hang or an over-long inflate.
@Test(arguments: ["python_deflated.zip", "numpy_savez_compressed.npz", "python_zip64.zip", "numpy_savez.npz"])
func mutatedArchivesNeverCrash(_ file: String) throws {
    let original = Array(FileManager.default.contents(atPath: zipFixture(file))!)
    var state: UInt64 = 0x2545_F491_4F6C_DD1D ^ UInt64(original.count)
    func next() -> Int {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return Int(state % UInt64(Int.max))
    }
    for _ in 0..<300 {
        var bytes = original
        for _ in 0..<(1 + next() % 3) { bytes[next() % bytes.count] = UInt8(truncatingIfNeeded: next()) }
        do {
            let archive = try ZipArchive(storage: ByteStorage(copying: bytes), path: "m.zip")
            for entry in archive.entries {
                let data = try archive.bytes(of: entry)
                #expect(data.bytes.count == entry.uncompressedSize)
            }
        } catch is FormatError {
            continue
        }
    }
}
