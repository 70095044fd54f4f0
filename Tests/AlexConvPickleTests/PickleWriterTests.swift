import AlexConvCore
import AlexConvPickle
import Foundation
import TestSupport
import Testing

/// A pickle shaped like a torch state dict, written with the builder: OrderedDict via REDUCE,
/// SETITEMS, persistent ids, a rebuild call, BUILD with `_metadata`, memo reuse.
func writerSample(protocolVersion: Int) throws -> [UInt8] {
    let w = PickleWriter(protocolVersion: protocolVersion)
    w.global(module: "collections", name: "OrderedDict")
    w.emptyTuple()
    w.reduce()
    w.memoize()
    w.mark()
    w.string("conv1.weight")
    w.call(module: "torch._utils", name: "_rebuild_tensor_v2") {
        w.tuple {
            w.string("storage")
            w.global(module: "torch", name: "FloatStorage")
            w.string("0")
            w.string("cpu")
            w.int(24)
        }
        w.persistentID()
        w.int(0)
        w.tuple {
            w.int(2)
            w.int(3)
            w.int(4)
        }
        w.tuple {
            w.int(12)
            w.int(4)
            w.int(1)
        }
        w.bool(false)
        w.global(module: "collections", name: "OrderedDict")
        w.emptyTuple()
        w.reduce()
    }
    let tensor = w.memoize()
    w.string("alias")
    w.get(tensor)
    w.string("numbers")
    w.list {
        w.int(0)
        w.int(255)
        w.int(256)
        w.int(65536)
        w.int(-1)
        w.int(1 << 40)
        w.int(Int.min)
        w.float(-2.5)
        w.none()
    }
    w.setItems()
    w.dict {
        w.string("_metadata")
        w.dict {
            w.string("")
            w.dict {
                w.string("version")
                w.int(1)
            }
        }
    }
    w.build()
    w.stop()
    _ = protocolVersion
    return w.takeBytes()
}

let writerGlobals: Set<String> = ["collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch.FloatStorage", "_codecs.encode"]

@Suite("Pickle writer")
struct PickleWriterTests {
    @Test("round trip through the reader")
    func roundTrip() throws {
        let bytes = try writerSample(protocolVersion: 2)
        let value = try PickleReader.read(bytes: bytes, allowedGlobals: writerGlobals).value
        let ordered = try #require(value.object)
        #expect(ordered.callable.description == "collections.OrderedDict")
        #expect(ordered.items.map { $0.key.text ?? "?" } == ["conv1.weight", "alias", "numbers"])
        let rebuild = try #require(ordered.items[0].value.object)
        #expect(rebuild.callable.name == "_rebuild_tensor_v2")
        #expect(rebuild.arguments.count == 6)
        guard case .persistentID(let id) = rebuild.arguments[0] else {
            Issue.record("expected a persistent id")
            return
        }
        #expect(id.sequence?[0].text == "storage")
        #expect(id.sequence?[1].global?.description == "torch.FloatStorage")
        #expect(id.sequence?[4].int == 24)
        #expect(rebuild.arguments[2].sequence?.compactMap(\.int) == [2, 3, 4])
        #expect(rebuild.arguments[3].sequence?.compactMap(\.int) == [12, 4, 1])
        #expect(ordered.items[1].value.object === rebuild)
        let numbers = try #require(ordered.items[2].value.sequence)
        #expect(numbers.prefix(7).compactMap(\.int) == [0, 255, 256, 65536, -1, 1 << 40, Int.min])
        #expect(numbers[7].double == -2.5)
        let metadata = try #require(ordered.state?.dictEntries?.first)
        #expect(metadata.key.text == "_metadata")
    }

    @Test("bytes: protocol 3 BINBYTES views, protocol 2 _codecs.encode", arguments: [2, 3])
    func bytesValues(protocolVersion: Int) throws {
        let w = PickleWriter(protocolVersion: protocolVersion)
        let long = (0..<300).map { UInt8($0 % 256) }
        w.tuple {
            try? w.bytes([0, 1, 0xFF, 0x80])
            try? w.bytes(long)
            try? w.bytes([])
        }
        w.stop()
        let value = try PickleReader.read(bytes: w.takeBytes(), allowedGlobals: ["_codecs.encode"]).value
        let items = try #require(value.sequence)
        #expect(items[0].rawBytes?.array == [0, 1, 0xFF, 0x80])
        #expect(items[1].rawBytes?.array == long)
        #expect(items[2].rawBytes?.array == [])
    }

    @Test("streaming: bytesHeader then the data written by the caller")
    func streamedBytes() throws {
        let w = PickleWriter(protocolVersion: 3)
        var out: [UInt8] = []
        w.list {
            try? w.bytesHeader(count: 1000)
            out += w.takeBytes()
            out += [UInt8](repeating: 7, count: 1000)
            w.noteStreamed(1000)
        }
        w.stop()
        out += w.takeBytes()
        #expect(w.totalCount == out.count)
        let value = try PickleReader.read(bytes: out, allowedGlobals: []).value
        #expect(value.sequence?.first?.rawBytes?.array == [UInt8](repeating: 7, count: 1000))
        #expect(throws: FormatError.self) { try PickleWriter(protocolVersion: 2).bytesHeader(count: 3) }
    }

    /// The committed writer output was checked by CPython (pickle.loads, pickletools.dis) and by
    /// torch's weights_only unpickler (make_pickle_fixtures.py wrote the .check.txt files). The
    /// writer must still produce exactly those bytes. Set ALEXCONV_WRITE_FIXTURES=1 to rewrite them.
    @Test("output matches the bytes CPython and torch's weights_only unpickler accepted", arguments: [2, 3])
    func matchesCheckedFixture(protocolVersion: Int) throws {
        let bytes = try writerSample(protocolVersion: protocolVersion)
        let path = FixturePaths.path("numpy/pickle/writer_p\(protocolVersion).pkl")
        if ProcessInfo.processInfo.environment["ALEXCONV_WRITE_FIXTURES"] == "1" {
            try Data(bytes).write(to: URL(fileURLWithPath: path))
        }
        let committed = try #require(FileManager.default.contents(atPath: path))
        #expect(Array(committed) == bytes)
        let check = try String(contentsOfFile: FixturePaths.path("numpy/pickle/writer_p\(protocolVersion).check.txt"), encoding: .utf8)
        #expect(check.contains("torch weights_only unpickler: OrderedDict"))
        #expect(check.contains("'numbers', [0, 255, 256, 65536, -1, 1099511627776, -9223372036854775808, -2.5, None]"))
    }
}
