import AlexConvCore
import AlexConvNumPy
import Foundation
import TestSupport
import Testing

/// `NumPyReader.readArray` / `NumPyExporter.writeArray`: the single arrays `run`, `verify` and
/// `diff` read and write (batches, outputs, goldens), through the same header codec as the weights.
@Suite("npy single arrays: readArray and writeArray")
struct SingleArrayTests {
    @Test func roundTripsAndRefusesBadFiles() throws {
        let dir = FixturePaths.temporaryDirectory("npy")
        let t = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        try NumPyExporter.writeArray(t, to: dir + "/a.npy")
        let back = try NumPyReader.readArray(path: dir + "/a.npy")
        #expect(back.shape == [2, 3] && back.floats() == [1, 2, 3, 4, 5, 6])
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/a.npy")))
        #expect(bytes.count % 64 == 24 && (bytes.count - 24) % 64 == 0)
        let objectHeader = Array("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }\n".utf8)
        let objectArray = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(objectHeader.count), 0] + objectHeader + [0x80, 0x02]
        let cases: [(String, [UInt8], FormatError.Kind)] = [
            ("truncated", Array(bytes.prefix(bytes.count - 4)), .truncated),
            ("no magic", Array("hello".utf8), .malformed),
            ("pickled objects", objectArray, .unsupported),
            ("bytes after the data", bytes + [0, 0, 0, 0], .malformed),
        ]
        for (label, data, kind) in cases {
            try Data(data).write(to: URL(fileURLWithPath: dir + "/b.npy"))
            #expect(throws: FormatError.self, "\(label)") { _ = try NumPyReader.readArray(path: dir + "/b.npy") }
            let error = formatError { _ = try NumPyReader.readArray(path: dir + "/b.npy") }
            #expect(error?.kind == kind, "\(label): \(String(describing: error))")
            #expect(error?.file == dir + "/b.npy", "\(label): \(String(describing: error))")
        }
        // The fixture script's numpy-written files read back with their dtypes.
        #expect(try NumPyReader.readArray(path: FixturePaths.path("forward/x227_u8.npy")).dtype == .uint8)
    }

    @Test("every plain array numpy wrote reads index by index", arguments: plainFixtureNames)
    func numpyWritten(name: String) throws {
        let expected = try #require(ExpectedValues.shared.plain[name])
        let tensor = try NumPyReader.readArray(path: numpyFixture("plain/\(name).npy"))
        #expect(tensor.shape == expected.shape)
        #expect(tensor.doubles() == expected.values)
    }

    @Test("writes each dtype as numpy's descr, and refuses bfloat16", arguments: [DType.float32, .float16, .float64, .uint8, .int64])
    func dtypes(dtype: DType) throws {
        let dir = FixturePaths.temporaryDirectory("npy-dtypes")
        let source = Tensor([0, 1, 2, 3, 4, 5], shape: [3, 2]).contiguous(as: dtype)
        try NumPyExporter.writeArray(source, to: dir + "/x.npy")
        let back = try NumPyReader.readArray(path: dir + "/x.npy")
        #expect(back.dtype == dtype && back.shape == [3, 2] && back.doubles() == [0, 1, 2, 3, 4, 5])
        #expect(throws: UsageError.self) {
            try NumPyExporter.writeArray(Tensor([1], shape: [1]).contiguous(as: .bfloat16), to: dir + "/bf16.npy")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/bf16.npy"))
    }
}
