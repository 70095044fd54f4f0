import AlexConvCore
import AlexConvPickle
import AlexConvZip
import Foundation
import TestSupport
import Testing

@testable import AlexConvTorch

// MARK: - Building hostile archives

/// A torch-style archive holding `pickle` as data.pkl plus the given storage entries.
func archive(pickle: [UInt8], storages: [(String, [UInt8])], folder: String = "evil") throws -> String {
    let path = FixturePaths.temporaryDirectory("torch") + "/\(folder).pth"
    try writeAtomically(to: path) { file in
        let zip = ZipWriter(file: file)
        try zip.addEntry(name: "\(folder)/data.pkl", bytes: pickle, alignment: 64)
        try zip.addEntry(name: "\(folder)/byteorder", bytes: Array("little".utf8), alignment: 64)
        for (key, bytes) in storages { try zip.addEntry(name: "\(folder)/data/\(key)", bytes: bytes, alignment: 64) }
        try zip.addEntry(name: "\(folder)/version", bytes: Array("3\n".utf8), alignment: 64)
        try zip.finish()
    }
    return path
}

/// `{name: _rebuild_tensor_v2(storage(key, FloatStorage, numel), offset, shape, stride, False, OrderedDict())}`.
func statePickle(
    name: String = "w", storageType: String = "FloatStorage", key: String = "0", numel: Int,
    offset: Int = 0, shape: [Int], stride: [Int]
) -> [UInt8] {
    let p = PickleWriter(protocolVersion: 2)
    p.emptyDict()
    p.string(name)
    p.global(module: "torch._utils", name: "_rebuild_tensor_v2")
    p.tuple {
        p.tuple {
            p.string("storage")
            p.global(module: "torch", name: storageType)
            p.string(key)
            p.string("cpu")
            p.int(numel)
        }
        p.persistentID()
        p.int(offset)
        p.tuple { for s in shape { p.int(s) } }
        p.tuple { for s in stride { p.int(s) } }
        p.bool(false)
        p.call(module: "collections", name: "OrderedDict") {}
    }
    p.reduce()
    p.setItem()
    p.stop()
    return p.takeBytes()
}

func floats(_ values: [Float]) -> [UInt8] { values.withUnsafeBytes { Array($0) } }

// MARK: - Tests

@Test func handBuiltArchiveReads() throws {
    let path = try archive(
        pickle: statePickle(numel: 6, shape: [2, 3], stride: [3, 1]),
        storages: [("0", floats([1, 2, 3, 4, 5, 6]))])
    let bundle = try TorchArchiveReader.read(path: path)
    #expect(bundle["w"]?.floats() == [1, 2, 3, 4, 5, 6])
}

@Test func refusesGlobalsOutsideTheAllowList() throws {
    let p = PickleWriter(protocolVersion: 2)
    p.global(module: "os", name: "system")
    p.tuple { p.string("echo pwned") }
    p.reduce()
    p.stop()
    let path = try archive(pickle: p.takeBytes(), storages: [])
    let message = errorText { _ = try TorchArchiveReader.read(path: path) }
    #expect(message.contains(path) && message.contains("os.system") && message.contains("refused"), "\(message)")
}

@Test func wholeModulePickleGetsAdvice() throws {
    let p = PickleWriter(protocolVersion: 2)
    p.global(module: "__main__", name: "AlexNet")
    p.emptyTuple()
    p.reduce()
    p.stop()
    let path = try archive(pickle: p.takeBytes(), storages: [])
    let message = errorText { _ = try TorchArchiveReader.read(path: path) }
    #expect(message.contains("__main__.AlexNet") && message.contains("state_dict()"), "\(message)")
}

@Test func missingStorageEntryIsNamed() throws {
    let path = try archive(pickle: statePickle(key: "7", numel: 6, shape: [2, 3], stride: [3, 1]), storages: [])
    let message = errorText { _ = try TorchArchiveReader.read(path: path) }
    #expect(message.contains("tensor 'w'") && message.contains("evil/data/7") && message.contains("missing"), "\(message)")
}

@Test func storageShorterThanDeclaredIsAnError() throws {
    let path = try archive(
        pickle: statePickle(numel: 6, shape: [2, 3], stride: [3, 1]),
        storages: [("0", floats([1, 2, 3]))])
    let message = errorText { _ = try TorchArchiveReader.read(path: path) }
    #expect(message.contains("tensor 'w'") && message.contains("12 bytes") && message.contains("24 bytes"), "\(message)")
}

@Test func tensorReachingPastItsStorageIsAnError() throws {
    // Storage of 6 floats, but offset 2 + shape (2, 3) needs 8.
    let path = try archive(
        pickle: statePickle(numel: 6, offset: 2, shape: [2, 3], stride: [3, 1]),
        storages: [("0", floats([1, 2, 3, 4, 5, 6]))])
    let message = errorText { _ = try TorchArchiveReader.read(path: path) }
    #expect(message.contains(path) && message.contains("w") && message.contains("only 24 available"), "\(message)")
}

@Test func hugeSizesDoNotCrash() throws {
    let path = try archive(
        pickle: statePickle(numel: Int.max / 2, shape: [Int.max / 4, 4], stride: [4, 1]),
        storages: [("0", floats([1]))])
    let message = errorText { _ = try TorchArchiveReader.read(path: path) }
    #expect(message.contains("tensor 'w'") || message.contains("'w'"), "\(message)")
}

@Test func unsupportedStorageTypeIsNamed() throws {
    let path = try archive(
        pickle: statePickle(storageType: "ComplexFloatStorage", numel: 1, shape: [1], stride: [1]),
        storages: [("0", floats([1, 2]))])
    let message = errorText { _ = try TorchArchiveReader.read(path: path) }
    #expect(message.contains("ComplexFloatStorage") && message.contains("not supported"), "\(message)")
}

@Test func truncatedTorchFilesFailCleanly() throws {
    for file in ["torchvision.pth", "torchvision_legacy.pth"] {
        let whole = Array(FileManager.default.contents(atPath: torchFixture(file))!)
        for cut in [1, 20, 200, whole.count / 3, whole.count - 100, whole.count - 1] {
            let storage = ByteStorage(copying: whole.prefix(cut))
            let message = errorText { _ = try TorchArchiveReader.read(storage: storage, path: "cut-\(cut).pth") }
            #expect(message.hasPrefix("cut-\(cut).pth"), "\(file) cut at \(cut): \(message)")
        }
    }
}

@Test func noStateDictListsTheKeys() throws {
    let p = PickleWriter(protocolVersion: 2)
    p.dict {
        p.string("epoch")
        p.int(3)
        p.string("lr")
        p.float(0.1)
    }
    p.stop()
    let path = try archive(pickle: p.takeBytes(), storages: [])
    let message = errorText { _ = try TorchArchiveReader.read(path: path) }
    #expect(message.contains("no state dict") && message.contains("epoch (int)"), "\(message)")
}

// MARK: - Mutations

/// Deterministic byte flips in real torch files (pickle, storages, zip records, legacy stream):
/// every result is a bundle or a thrown error, never a crash or a hang.
@Test(arguments: ["torchvision.pth", "torchvision_legacy.pth", "views.pth", "dtypes_legacy.pth"])
func mutatedFilesNeverCrash(_ file: String) throws {
    let original = Array(FileManager.default.contents(atPath: torchFixture(file))!)
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(original.count)
    func next() -> Int {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return Int(state % UInt64(Int.max))
    }
    // Regions: the pickle (start), the central directory and end records (end), anywhere.
    let regions = [0..<min(2048, original.count), max(0, original.count - 2048)..<original.count, 0..<original.count]
    var outcomes = (read: 0, refused: 0)
    let rounds = 120
    for round in 0..<rounds {
        var bytes = original
        let region = regions[round % regions.count]
        for _ in 0..<(1 + next() % 4) {
            let at = region.lowerBound + next() % region.count
            bytes[at] = UInt8(truncatingIfNeeded: next())
        }
        do {
            let bundle = try TorchArchiveReader.read(storage: ByteStorage(copying: bytes), path: "m.pth")
            for item in bundle.tensors { _ = item.tensor.contiguous(as: .float32).byteCount }  // touch every element
            outcomes.read += 1
        } catch is FormatError {
            outcomes.refused += 1
        } catch is ModelError {
            outcomes.refused += 1
        }
    }
    #expect(outcomes.read + outcomes.refused == rounds)
}

// MARK: - Rebuild variants

/// `{name: wrap(_rebuild_tensor_v3(UntypedStorage(nbytes), offset, size, stride, False, OrderedDict(), dtype))}`.
func v3Pickle(dtype: String, nbytes: Int, shape: [Int], parameter: Bool) -> [UInt8] {
    let p = PickleWriter(protocolVersion: 2)
    p.emptyDict()
    p.string("w")
    if parameter {
        p.global(module: "torch._utils", name: "_rebuild_parameter")
        p.mark()
    }
    p.global(module: "torch._utils", name: "_rebuild_tensor_v3")
    p.tuple {
        p.tuple {
            p.string("storage")
            p.global(module: "torch", name: "UntypedStorage")
            p.string("0")
            p.string("cpu")
            p.int(nbytes)
        }
        p.persistentID()
        p.int(1)
        p.tuple { for s in shape { p.int(s) } }
        p.tuple { for s in Tensor.contiguousStrides(shape) { p.int(s) } }
        p.bool(false)
        p.call(module: "collections", name: "OrderedDict") {}
        p.global(module: "torch", name: dtype)
    }
    p.reduce()
    if parameter {
        p.bool(true)
        p.call(module: "collections", name: "OrderedDict") {}
        p.tupleFromMark()
        p.reduce()
    }
    p.setItem()
    p.stop()
    return p.takeBytes()
}

@Test func untypedStorageWithV3DtypeAndParameterWrapper() throws {
    let halves: [UInt16] = [0x3C00, 0x4000, 0x4200, 0x4400, 0x4500]  // 1, 2, 3, 4, 5 as float16
    let bytes = halves.withUnsafeBytes { Array($0) }
    let path = try archive(
        pickle: v3Pickle(dtype: "float16", nbytes: bytes.count, shape: [2, 2], parameter: true),
        storages: [("0", bytes)])
    let bundle = try TorchArchiveReader.read(path: path)
    #expect(bundle["w"]?.dtype == .float16)
    #expect(bundle["w"]?.floats() == [2, 3, 4, 5])  // storage offset 1 element
}

@Test func unsupportedDTypeIsNamed() throws {
    let path = try archive(
        pickle: v3Pickle(dtype: "uint16", nbytes: 10, shape: [2, 2], parameter: false),
        storages: [("0", [UInt8](repeating: 0, count: 10))])
    let message = errorText { _ = try TorchArchiveReader.read(path: path) }
    #expect(message.contains("tensor 'w'") && message.contains("torch.uint16") && message.contains("not supported"), "\(message)")
}
