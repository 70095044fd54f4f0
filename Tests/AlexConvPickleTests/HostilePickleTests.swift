import AlexConvCore
import AlexConvPickle
import Foundation
import TestSupport
import Testing

/// What numpy weight files need; everything the hostile files name is outside it.
let weightGlobals: Set<String> = [
    "_codecs.encode", "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
    "numpy.ndarray", "numpy.dtype", "collections.OrderedDict",
]

/// Reads `bytes` and returns the FormatError it must raise.
func refusal(_ bytes: [UInt8], allowed: Set<String> = weightGlobals, limits: PickleLimits = .standard) -> FormatError? {
    do {
        _ = try PickleReader.read(bytes: bytes, allowedGlobals: allowed, limits: limits)
        return nil
    } catch let error as FormatError {
        return error
    } catch {
        Issue.record("expected a FormatError, got \(error)")
        return nil
    }
}

func refusal(fixture name: String) throws -> FormatError? {
    let data = try #require(FileManager.default.contents(atPath: FixturePaths.path("numpy/hostile/\(name).pkl")))
    return refusal(Array(data))
}

@Suite("Pickle reader: hostile input is refused, never run")
struct HostilePickleTests {
    @Test(
        "refused globals are named",
        arguments: [
            ("os_system", "refused pickle global 'os.system'"),
            ("posix_system", "refused pickle global 'posix.system'"),
            ("builtins_eval", "refused pickle global '__builtin__.eval'"),
            ("builtins_getattr", "refused pickle global '__builtin__.getattr'"),
            ("subprocess_popen", "refused pickle global 'subprocess.Popen'"),
            ("inst_popen", "refused pickle global 'subprocess.Popen'"),
        ])
    func refusedGlobal(name: String, message: String) throws {
        let error = try #require(try refusal(fixture: name))
        #expect(error.description.contains(message), "\(error)")
    }

    @Test(
        "malformed pickles give clear errors",
        arguments: [
            ("reduce_chain", "call chains are refused"),
            ("huge_memo_index", "memo index 4294967295 was never stored"),
            ("lying_binbytes", "claims 4294967295 bytes, only 4 left"),
            ("lying_binunicode8", "claims 9223372036854775808 bytes"),
            ("negative_binstring", "negative BINSTRING length -1"),
            ("lying_frame", "claims 4294967296 bytes"),
            ("unknown_opcode", "unknown or unsupported opcode 0xFF at byte 2"),
            ("ext1", "unknown or unsupported opcode 0x82 at byte 2"),
            ("self_append", "recursive structures are not supported"),
            ("no_stop", "before STOP"),
        ])
    func malformed(name: String, message: String) throws {
        let error = try #require(try refusal(fixture: name))
        #expect(error.description.contains(message), "\(error)")
    }

    @Test(
        "errors are located at the opcode that raised them",
        arguments: [
            // PROTO 2, BININT with 1 of its 4 argument bytes.
            ([0x80, 0x02, 0x4A, 0x01], FormatError.Kind.truncated, "pickle opcode BININT at byte 2", "argument at byte 3 needs 4 bytes, 1 remain"),
            // PROTO 2, NONE, SHORT_BINUNICODE claiming 200 bytes.
            ([0x80, 0x02, 0x4E, 0x8C, 0xC8, 0x61], .truncated, "pickle opcode SHORT_BINUNICODE at byte 3", "length at byte 4 claims 200 bytes, only 1 left"),
            // PROTO 2, APPEND on an empty stack.
            ([0x80, 0x02, 0x61, 0x2E], .malformed, "pickle opcode APPEND at byte 2", "stack underflow"),
            // PROTO 2, INT without its newline.
            ([0x80, 0x02, 0x49, 0x31], .truncated, "pickle opcode INT at byte 2", "has no terminating newline"),
        ] as [([UInt8], FormatError.Kind, String, String)])
    func errorsNameTheOpcode(bytes: [UInt8], kind: FormatError.Kind, location: String, detail: String) throws {
        let error = try #require(refusal(bytes))
        #expect(error.kind == kind)
        #expect(error.location == location, "\(error)")
        #expect(error.detail.contains(detail), "\(error)")
    }

    @Test("a million MARKs hit the mark limit")
    func deepMarks() throws {
        let bytes = [0x80, 0x02] + [UInt8](repeating: 0x28, count: 1_000_000) + [0x2E]
        let error = try #require(refusal(bytes))
        #expect(error.description.contains("open MARKs (limit)"))
    }

    @Test("a million EMPTY_LISTs hit the stack limit")
    func deepStack() throws {
        let bytes = [0x80, 0x02] + [UInt8](repeating: 0x5D, count: 1_000_000) + [0x2E]
        let error = try #require(refusal(bytes))
        #expect(error.description.contains("stack holds more than"))
    }

    @Test("MARK/EMPTY_LIST pairs nested a million deep are refused")
    func deepMarkLists() throws {
        var bytes: [UInt8] = [0x80, 0x02]
        for _ in 0..<500_000 { bytes += [0x5D, 0x28] }
        let error = try #require(refusal(bytes))
        #expect(error.description.contains("limit"))
    }

    @Test("deep nesting through the memo stops at the nesting limit (no stack overflow on free)")
    func deepNestingThroughMemo() throws {
        // ] q0 ; then repeatedly: ] h0 a q0 -> [previous], kept in memo slot 0 with a tiny stack.
        var bytes: [UInt8] = [0x80, 0x02, 0x5D, 0x71, 0x00, 0x30]
        for _ in 0..<1_000_000 { bytes += [0x5D, 0x68, 0x00, 0x61, 0x71, 0x00, 0x30] }
        bytes += [0x68, 0x00, 0x2E]
        let error = try #require(refusal(bytes))
        #expect(error.description.contains("nested more than 256 deep"))
    }

    @Test("deep TUPLE1 nesting stops at the nesting limit")
    func deepTuples() throws {
        let bytes = [0x80, 0x02, 0x4E] + [UInt8](repeating: 0x85, count: 1_000_000) + [0x2E]
        let error = try #require(refusal(bytes))
        #expect(error.description.contains("nested more than"))
    }

    @Test("the element limit holds for huge APPENDS of memo references")
    func elementLimit() throws {
        var limits = PickleLimits()
        limits.maxElements = 1000
        var bytes: [UInt8] = [0x80, 0x02, 0x5D, 0x4E, 0x71, 0x00, 0x30, 0x28]
        for _ in 0..<1001 { bytes += [0x68, 0x00] }
        bytes += [0x65, 0x2E]
        let error = try #require(refusal(bytes, limits: limits))
        #expect(error.description.contains("more than 1000 items"))
    }

    @Test("truncated at every byte, every sample is refused with a FormatError", arguments: 0...5)
    func truncatedEverywhere(protocolVersion: Int) throws {
        let data = try #require(FileManager.default.contents(atPath: FixturePaths.path("numpy/pickle/sample_p\(protocolVersion).pkl")))
        let bytes = Array(data)
        for length in 0..<(bytes.count - 1) {
            #expect(refusal(Array(bytes[0..<length]), allowed: sampleGlobals) != nil, "prefix of \(length) bytes")
        }
    }

    @Test("random byte flips never crash the reader")
    func mutations() throws {
        var generator = SplitMix64(seed: 42)
        for protocolVersion in 0...5 {
            let data = try #require(FileManager.default.contents(atPath: FixturePaths.path("numpy/pickle/sample_p\(protocolVersion).pkl")))
            for _ in 0..<400 {
                var bytes = Array(data)
                for _ in 0..<Int(generator.next() % 4 + 1) {
                    let index = Int(generator.next() % UInt64(bytes.count))
                    bytes[index] = UInt8(truncatingIfNeeded: generator.next())
                }
                _ = try? PickleReader.read(bytes: bytes, allowedGlobals: sampleGlobals)
            }
        }
    }
}

/// A small seeded generator so the mutation test is reproducible.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
