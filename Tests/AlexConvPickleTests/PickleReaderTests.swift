import AlexConvCore
import AlexConvPickle
import Foundation
import TestSupport
import Testing

/// Globals the CPython-written samples use (sets and OrderedDict under both Python 2 and 3 names).
let sampleGlobals: Set<String> = [
    "_codecs.encode", "builtins.set", "builtins.frozenset", "__builtin__.set", "__builtin__.frozenset",
    "collections.OrderedDict", "builtins.bytearray", "__builtin__.bytearray",
]

func readFixture(_ relative: String, allowed: Set<String> = sampleGlobals) throws -> PickleResult {
    let storage = try ByteStorage.map(path: FixturePaths.path(relative))
    return try PickleReader.read(storage: storage, allowedGlobals: allowed)
}

/// The entries of a dict value keyed by text.
func entries(_ value: PickleValue) -> [String: PickleValue] {
    var result: [String: PickleValue] = [:]
    for (key, value) in value.dictEntries ?? [] { if let text = key.text { result[text] = value } }
    return result
}

/// Elements of a set: EMPTY_SET/FROZENSET (protocol 4+) or `set([...])` REDUCE (older protocols).
func setElements(_ value: PickleValue) -> [Int] {
    switch value {
    case .set(let list): return list.items.compactMap(\.int)
    case .object(let object): return object.arguments.first?.sequence?.compactMap(\.int) ?? []
    default: return []
    }
}

@Suite("Pickle reader: pickles CPython wrote")
struct PickleReaderTests {
    @Test("every protocol 0-5 gives the same values", arguments: 0...5)
    func sample(protocolVersion: Int) throws {
        let result = try readFixture("numpy/pickle/sample_p\(protocolVersion).pkl")
        #expect(result.protocolVersion == (protocolVersion >= 2 ? protocolVersion : 0))
        let dict = entries(result.value)
        #expect(dict.count == 16)
        #expect(dict["small"]?.int == 1)
        #expect(dict["byte"]?.int == 255)
        #expect(dict["short"]?.int == 65535)
        #expect(dict["negative"]?.int == -300)
        #expect(dict["int32"]?.int == -2_147_483_648)
        #expect(dict["int64"]?.int == 1 << 40)
        if case .bigInt(let raw) = dict["big"] {
            // 2**70 little-endian two's complement: bit 70 set.
            #expect(raw.count == 9 && raw[8] == 0x40 && raw[0..<8].allSatisfy { $0 == 0 })
        } else if protocolVersion < 2 {
            // Protocol 0/1 write LONG text: too large for 64 bits is refused, so not reached.
            Issue.record("expected a big integer, got \(String(describing: dict["big"]))")
        } else {
            Issue.record("expected a big integer")
        }
        #expect(dict["float"]?.double == 1.5)
        #expect(dict["str"]?.text == "h\u{e9}llo \u{2603}")
        #expect(dict["bytes"]?.rawBytes?.array == [0x00, 0x01, 0xFF, 0x80])
        #expect(dict["tuple"]?.sequence?.compactMap(\.int) == [1, 2, 3])
        let nested = dict["nested"]?.sequence
        #expect(nested?.count == 3)
        #expect(nested?[1].sequence?[1].sequence?[0].int == 3)
        if case .none? = nested?[1].sequence?[1].sequence?[1] {} else { Issue.record("expected None") }
        #expect(nested?[2].sequence?.compactMap(\.bool) == [true, false])
        // The same list twice (memo shares it).
        if case .tuple(let pair)? = dict["shared"], case .list(let a) = pair[0], case .list(let b) = pair[1] {
            #expect(a === b)
            #expect(a.items.compactMap(\.int) == [7, 8])
        } else {
            Issue.record("shared: expected a tuple of two lists")
        }
        #expect(setElements(dict["set"]!) == [4])
        #expect(setElements(dict["frozen"]!) == [5])
        let ordered = try #require(dict["ordered"]?.object)
        #expect(ordered.callable.description == "collections.OrderedDict")
        #expect(ordered.items.compactMap { $0.key.text } == ["a", "b"])
        #expect(ordered.items.compactMap { $0.value.int } == [1, 2])
    }

    @Test("Python 2 protocol 0 text opcodes: STRING escapes, INT, LONG, FLOAT, UNICODE, GET")
    func pythonTwoProtocolZero() throws {
        let result = try readFixture("numpy/pickle/python2_strings_p0.pkl", allowed: [])
        let dict = entries(result.value)
        #expect(dict["key"]?.rawBytes?.array == Array("a\u{0}\n'b".utf8))
        if case .legacyString? = dict["key"] {} else { Issue.record("STRING must give a Python 2 str") }
        #expect(dict["int"]?.int == 42)
        #expect(dict["flag"]?.bool == true)
        if case .bool(true)? = dict["flag"] {} else { Issue.record("I01 is True") }
        #expect(dict["long"]?.int == 12_345_678_901_234)
        #expect(dict["float"]?.double == 2.5)
        #expect(dict["uni"]?.text == "caf\u{e9}")
        #expect(dict["again"]?.text == "key")  // GET 1: the memoized key
    }

    @Test("Python 2 protocol 2: SHORT_BINSTRING keys, BINSTRING data as raw bytes, latin-1 text")
    func pythonTwoProtocolTwo() throws {
        let storage = try ByteStorage.map(path: FixturePaths.path("numpy/pickle/python2_strings_p2.pkl"))
        let result = try PickleReader.read(storage: storage, allowedGlobals: [])
        let dict = entries(result.value)
        let data = try #require(dict["key"]?.rawBytes)
        #expect(data.array == [0xFF, 0x00, 0x61, 0x62])
        #expect(data.storage === storage, "BINSTRING data must view the input, not a copy")
        #expect(dict["key"]?.text == "\u{FF}\u{0}ab")
        #expect(dict["num"]?.int == -2)
        if case .bigInt(let raw)? = dict["long"] { #expect(raw == [0, 0, 0, 0, 0, 0, 0, 0, 1]) } else { Issue.record("LONG1 of 9 bytes") }
    }

    @Test("protocol 3+ bytes are zero-copy views of the input")
    func zeroCopyBytes() throws {
        let storage = try ByteStorage.map(path: FixturePaths.path("numpy/pickle/sample_p3.pkl"))
        let result = try PickleReader.read(storage: storage, allowedGlobals: sampleGlobals)
        let bytes = try #require(entries(result.value)["bytes"]?.rawBytes)
        #expect(bytes.storage === storage)
        #expect(bytes.array == [0x00, 0x01, 0xFF, 0x80])
    }

    @Test("endOffset points past STOP so consecutive pickles can be read")
    func consecutivePickles() throws {
        let writer = PickleWriter()
        writer.int(7)
        writer.stop()
        var bytes = writer.takeBytes()
        let first = bytes.count
        let second = PickleWriter()
        second.string("next")
        second.stop()
        bytes += second.takeBytes()
        let storage = ByteStorage(copying: bytes)
        let a = try PickleReader.read(storage: storage, allowedGlobals: [])
        #expect(a.value.int == 7 && a.endOffset == first)
        let b = try PickleReader.read(storage: storage, offset: a.endOffset, allowedGlobals: [])
        #expect(b.value.text == "next" && b.endOffset == bytes.count)
    }

    @Test("duplicate dict keys keep the last value, in first position, as Python does")
    func duplicateKeys() throws {
        let writer = PickleWriter()
        writer.dict {
            writer.string("a")
            writer.int(1)
            writer.string("b")
            writer.int(2)
            writer.string("a")
            writer.int(3)
        }
        writer.stop()
        let value = try PickleReader.read(bytes: writer.takeBytes(), allowedGlobals: []).value
        #expect(value.dictEntries?.compactMap { $0.key.text } == ["a", "b"])
        #expect(value.dictEntries?.compactMap { $0.value.int } == [3, 2])
    }
}
