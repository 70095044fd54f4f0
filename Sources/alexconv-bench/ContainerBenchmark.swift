import AlexConvCore
import AlexConvPickle
import AlexConvZip
import Foundation

// MARK: - Container parsing benchmark

/// Times the container layers on their own, where the byte reads are the work: the pickle machine
/// on a pickle of a few million small opcodes, and the zip reader on an archive of many small
/// entries (central directory, local headers, every entry's bytes). The model benchmarks (numpy,
/// torch) are dominated by copying tensor bytes; this one shows what the byte reads cost.
/// Prints the best of `repeats` runs of each.
enum ContainerBenchmark {
    static func run(directory: String, repeats: Int = 5) throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var lines: [String] = []

        // A list of 2 million items appended in batches of 1000 (as CPython's pickler batches):
        // ints of 1, 2 and 4 bytes, short str values memoised with BINPUT and fetched with BINGET.
        let items = 2_000_000
        var pickle: [UInt8] = [0x80, 0x02, 0x5D]  // PROTO 2, EMPTY_LIST
        var opcodes = 2
        for batch in stride(from: 0, to: items, by: 1000) {
            pickle.append(0x28)  // MARK
            opcodes += 1
            for i in batch..<min(items, batch + 1000) {
                switch i % 4 {
                case 0: pickle += [0x4B, UInt8(truncatingIfNeeded: i)]  // BININT1
                case 1: pickle += [0x4D, UInt8(truncatingIfNeeded: i), UInt8(truncatingIfNeeded: i >> 8)]  // BININT2
                case 2: pickle += [0x4A] + withUnsafeBytes(of: Int32(truncatingIfNeeded: i).littleEndian, Array.init)  // BININT
                default: pickle += [0x8C, 4] + Array("k\(i % 1000)".utf8.prefix(4)).padded(to: 4) + [0x71, UInt8(truncatingIfNeeded: i % 200)]  // SHORT_BINUNICODE, BINPUT
                }
                opcodes += i % 4 == 3 ? 2 : 1
            }
            pickle.append(0x65)  // APPENDS
            opcodes += 1
        }
        pickle.append(0x2E)  // STOP
        opcodes += 1
        let storage = ByteStorage(copying: pickle)
        let pickleSeconds = try best(repeats) {
            let result = try PickleReader.read(storage: storage, allowedGlobals: [])
            guard result.value.sequence?.count == items else { throw IOError(path: "pickle", "wrong item count") }
        }
        lines.append(
            String(
                format: "  pickle: %d opcodes (%.1f MB) in %.3f s = %.1f M opcodes/s",
                opcodes, Double(pickle.count) / 1e6, pickleSeconds, Double(opcodes) / pickleSeconds / 1e6))

        // An archive of 50,000 stored entries of 64 bytes each.
        let entries = 50_000
        let path = directory + "/many-entries.zip"
        try writeAtomically(to: path) { file in
            let writer = ZipWriter(file: file)
            let payload = [UInt8](repeating: 0x5A, count: 64)
            for i in 0..<entries { try writer.addEntry(name: "archive/data/\(i)", bytes: payload) }
            try writer.finish()
        }
        defer { try? FileManager.default.removeItem(atPath: path) }
        let zipStorage = try ByteStorage.map(path: path)
        let zipSeconds = try best(repeats) {
            let archive = try ZipArchive(storage: zipStorage, path: path)
            var total = 0
            for entry in archive.entries { total += try archive.bytes(of: entry).bytes.count }
            guard total == entries * 64 else { throw IOError(path: path, "wrong byte count") }
        }
        lines.append(
            String(
                format: "  zip: %d entries (%.1f MB) read in %.3f s = %.2f us per entry",
                entries, Double(zipStorage.bytes.count) / 1e6, zipSeconds, zipSeconds / Double(entries) * 1e6))
        return lines.joined(separator: "\n")
    }

    /// The shortest wall time of `repeats` runs of `body`, in seconds.
    static func best(_ repeats: Int, _ body: () throws -> Void) throws -> Double {
        var fastest = Double.infinity
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            fastest = min(fastest, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return fastest
    }
}

extension Array where Element == UInt8 {
    fileprivate func padded(to count: Int) -> [UInt8] { self + [UInt8](repeating: 0x5F, count: Swift.max(0, count - self.count)) }
}
