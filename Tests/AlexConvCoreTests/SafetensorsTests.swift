import Foundation
import TestSupport
import Testing

@testable import AlexConvCore

@Suite struct SafetensorsTests {
    @Test func canonicalFileRoundTripsBitExactly() throws {
        let dir = FixturePaths.temporaryDirectory("st")
        let model = TinyModels.model(Presets.caffeAlexNet)
        let path = dir + "/m.alexnet.safetensors"
        try CanonicalFile.write(model, to: path)
        let back = try CanonicalFile.read(path: path)
        #expect(back.spec == model.spec)
        for t in model.tensors { #expect(back[t.name]!.bitwiseEqual(t.tensor)) }
        // Header: 8-byte aligned, tensors contiguous.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let n = bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        #expect(n % 8 == 0)
        #expect(try !FileManager.default.contentsOfDirectory(atPath: dir).contains { $0.contains("tmp-alexconv") })
    }

    @Test func dtypesConvertOnWrite() throws {
        let dir = FixturePaths.temporaryDirectory("st")
        let t = Tensor([1, 2.5, -3], shape: [3])
        try Safetensors.write([NamedTensor("a", t)], dtype: .bfloat16, to: dir + "/a.safetensors")
        let back = try Safetensors.read(path: dir + "/a.safetensors")
        #expect(back["a"]!.dtype == .bfloat16)
        #expect(back["a"]!.floats() == [1, 2.5, -3])
    }

    func header(_ json: String, data: Int) -> [UInt8] {
        var bytes = withUnsafeBytes(of: UInt64(json.utf8.count).littleEndian) { Array($0) }
        bytes += Array(json.utf8)
        bytes += [UInt8](repeating: 0, count: data)
        return bytes
    }

    @Test(arguments: [
        (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, 4, "outside"),
        (#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, 8, "needs 12"),
        (#"{"a":{"dtype":"X9","shape":[2],"data_offsets":[0,8]}}"#, 8, "unsupported dtype"),
        (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, 8, "hole"),
        (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, 8, "after the last"),
        (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, 8, "overlaps"),
        (#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}}"#, 8, "non-negative"),
        (#"[1,2]"#, 0, "not a JSON object"),
        (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, 8, "named twice"),
        (#"{"a":"#, 0, "not valid JSON"),
    ])
    func malformedHeadersAreRefused(json: String, data: Int, message: String) throws {
        let storage = ByteStorage(copying: header(json, data: data))
        do {
            _ = try Safetensors.read(storage: storage)
            Issue.record("accepted \(json)")
        } catch let error as FormatError {
            #expect(error.description.contains(message), "\(error)")
        }
    }

    @Test func hugeHeaderLengthIsRefusedBeforeAllocating() {
        var bytes = withUnsafeBytes(of: UInt64(1 << 40).littleEndian) { Array($0) }
        bytes += Array("{}".utf8)
        #expect(throws: FormatError.self) { try Safetensors.read(storage: ByteStorage(copying: bytes)) }
        #expect(throws: FormatError.self) { try Safetensors.read(storage: ByteStorage(copying: [1, 2, 3])) }
    }

    @Test func failedWriteLeavesPreviousFileIntact() throws {
        let dir = FixturePaths.temporaryDirectory("st")
        let path = dir + "/keep.safetensors"
        try Safetensors.write([NamedTensor("a", Tensor([1], shape: [1]))], to: path)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(throws: ModelError.self) {
            try Safetensors.write([NamedTensor("a", Tensor([1], shape: [1])), NamedTensor("a", Tensor([2], shape: [1]))], to: path)
        }
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try writeAtomically(to: path) { file in
                try file.write([1, 2, 3])
                throw Boom()
            }
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["keep.safetensors"])
        #expect(throws: UsageError.self) { try AtomicFileWriter(path: path, overwrite: false) }
    }
}
