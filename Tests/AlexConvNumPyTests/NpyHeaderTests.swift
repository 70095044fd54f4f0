import AlexConvCore
import Foundation
import TestSupport
import Testing

@testable import AlexConvNumPy

@Suite("npy headers and plain arrays")
struct NpyHeaderTests {
    @Test("plain arrays numpy wrote read index by index", arguments: plainFixtureNames)
    func plainArray(name: String) throws {
        let expected = try #require(ExpectedValues.shared.plain[name])
        let bundle = try NumPyReader.read(path: numpyFixture("plain/\(name).npy"))
        #expect(bundle.tensors.count == 1)
        #expect(bundle.tensors.first?.name == name)
        #expect(bundle.layout == nil)
        let tensor = try #require(bundle.tensors.first?.tensor)
        #expect(tensor.shape == expected.shape)
        #expect(tensor.doubles() == expected.values)
    }

    @Test("element types, byte order and Fortran order are views of the file, not copies")
    func views() throws {
        let big = try #require(try NumPyReader.read(path: numpyFixture("plain/big_endian_f4.npy")).tensors.first?.tensor)
        #expect(big.byteOrder == .big && big.dtype == .float32)
        let fortran = try #require(try NumPyReader.read(path: numpyFixture("plain/fortran_f4.npy")).tensors.first?.tensor)
        #expect(!fortran.isContiguous)
        #expect(fortran.floats() == (0..<24).map { Float($0) / 8 })
        let half = try #require(try NumPyReader.read(path: numpyFixture("plain/half_f2.npy")).tensors.first?.tensor)
        #expect(half.dtype == .float16)
        let size = try FileManager.default.attributesOfItem(atPath: numpyFixture("plain/fortran_f4.npy"))[.size] as? Int
        #expect(fortran.storage.bytes.count == size, "the tensor views the mapped file")
    }

    @Test("header versions and offsets")
    func versions() throws {
        for (file, major, offset) in [("plain_f4", 1, 128), ("header_v2", 2, 128), ("header_v3", 3, 128), ("python2_header", 1, 80)] {
            let storage = try ByteStorage.map(path: numpyFixture("plain/\(file).npy"))
            let header = try NpyHeader.parse(storage.bytes)
            #expect(Int(header.version.major) == major, "\(file)")
            #expect(header.dataOffset == offset, "\(file)")
            #expect(header.shape == [3, 4])
        }
    }

    @Test(
        "encode writes the header bytes np.save writes",
        arguments: [
            ("plain_f4", NpyElementType.numeric(.float32, .little)), ("scalar_f4", .numeric(.float32, .little)),
            ("empty_f4", .numeric(.float32, .little)), ("half_f2", .numeric(.float16, .little)),
            ("bytes_u1", .numeric(.uint8, .little)), ("big_endian_f8", .numeric(.float64, .big)),
            ("fortran_f4", .numeric(.float32, .little)),
        ])
    func encodeMatchesNumPy(name: String, type: NpyElementType) throws {
        let storage = try ByteStorage.map(path: numpyFixture("plain/\(name).npy"))
        let header = try NpyHeader.parse(storage.bytes)
        let written = NpyHeader.encode(elementType: type, shape: header.shape, fortranOrder: header.fortranOrder)
        #expect(written == Array(storage.bytes[0..<header.dataOffset]))
    }

    @Test("Python literal parser: Python 2 longs, nesting, trailing commas")
    func literals() throws {
        #expect(
            try PythonLiteralParser.parse("{'a': (3L, 4L), \"b\": [1, (2,)], 'c': True, 'd': None, }")
                == .dict([
                    (.string("a"), .tuple([.int(3), .int(4)])),
                    (.string("b"), .list([.int(1), .tuple([.int(2)])])),
                    (.string("c"), .bool(true)), (.string("d"), .none),
                ]))
        #expect(try PythonLiteralParser.parse("()") == .tuple([]))
        #expect(try PythonLiteralParser.parse("(5)") == .int(5))
        #expect(try PythonLiteralParser.parse("'it\\'s'") == .string("it's"))
    }

    @Test(
        "malformed headers give FormatErrors naming what is wrong",
        arguments: [
            ("{'descr': '<f4', 'fortran_order': False}", "missing key 'shape'"),
            ("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", "descr '<c8' is not supported"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", "non-negative"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", "overflows"),
            ("{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }", "fortran_order must be True or False"),
            ("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", "structured dtypes are not supported"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), ", "ended inside a literal"),
            ("{'descr': '<f4' 'fortran_order': False}", "expected ',' or '}'"),
            ("__import__('os')", "not a supported literal"),
            (String(repeating: "(", count: 100_000), "nested more than 32 deep"),
        ])
    func malformedHeader(header: String, message: String) throws {
        var bytes: [UInt8] = NpyHeader.magic + [1, 0]
        let body = Array(header.utf8) + [0x0A]
        withUnsafeBytes(of: UInt16(truncatingIfNeeded: body.count).littleEndian) { bytes += $0 }
        if body.count > 0xFFFF {
            bytes = NpyHeader.magic + [2, 0]
            withUnsafeBytes(of: UInt32(body.count).littleEndian) { bytes += $0 }
        }
        bytes += body + [UInt8](repeating: 0, count: 64)
        let error = formatError { _ = try NumPyReader.bundle(storage: ByteStorage(copying: bytes), path: "bad.npy") }
        #expect(error?.description.contains(message) == true, "\(String(describing: error))")
    }

    @Test("truncated and lying files are refused")
    func truncated() throws {
        let data = try #require(FileManager.default.contents(atPath: numpyFixture("plain/plain_f4.npy")))
        for length in 0..<(data.count - 1) {
            let error = formatError { _ = try NumPyReader.bundle(storage: ByteStorage(copying: Array(data.prefix(length))), path: "t.npy") }
            #expect(error != nil, "prefix of \(length) bytes")
        }
        // A header length field pointing past the end.
        var lying = Array(data)
        lying[8] = 0xFF
        lying[9] = 0xFF
        #expect(
            formatError { _ = try NumPyReader.bundle(storage: ByteStorage(copying: lying), path: "l.npy") }?
                .description.contains("truncated") == true)
        // Not an npy at all.
        #expect(formatError { _ = try NumPyReader.bundle(storage: ByteStorage(copying: Array("hello".utf8)), path: "x.npy") } != nil)
    }
}
