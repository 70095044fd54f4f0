import AlexConv
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

// MARK: - Running one input

/// What a fuzz target does with one input. Any `UserFacingError` is the expected outcome for a
/// bad file; any other error is a finding (the contract says every failure is one clear line with
/// exit code 3), reported by trapping so libFuzzer saves the input.
public enum FuzzHarness {
    /// Runs `body` on the fuzzer's bytes; traps on a thrown error that is not a `UserFacingError`.
    public static func run(_ data: UnsafePointer<UInt8>?, _ size: Int, _ body: (UnsafeRawBufferPointer) throws -> Void) -> Int32 {
        let bytes = UnsafeRawBufferPointer(start: size > 0 ? data : nil, count: size)
        do {
            try body(bytes)
        } catch let error as any UserFacingError {
            checkExitCode(error)
        } catch {
            fatalError("fuzz finding: a non-user-facing error escaped: \(type(of: error)): \(error)")
        }
        return 0
    }

    /// Bad input must map to exit code 3 (usage errors are for arguments, never for file contents).
    static func checkExitCode(_ error: any UserFacingError) {
        if error.exitCode != ExitStatus.invalidInput, !(error is IOError) {
            fatalError("fuzz finding: error with exit code \(error.exitCode) for bad input: \(error)")
        }
        // The one-line rule: an error message never spans lines.
        if error.description.contains("\n") {
            fatalError("fuzz finding: multi-line error message: \(error.description)")
        }
    }

    /// A private copy of the input as owned storage (exact size, so AddressSanitizer sees overreads).
    public static func storage(_ bytes: UnsafeRawBufferPointer) -> ByteStorage {
        ByteStorage(copying: bytes)
    }

    /// Writes the input to a per-process temporary file named with `suffix` and returns its path.
    public static func temporaryFile(_ bytes: UnsafeRawBufferPointer, suffix: String) throws -> String {
        let path = NSTemporaryDirectory() + "alexconv-fuzz-\(getpid())\(suffix)"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { fatalError("fuzz harness: cannot create \(path)") }
        defer { close(fd) }
        var offset = 0
        while offset < bytes.count {
            let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            guard n > 0 else { fatalError("fuzz harness: cannot write \(path)") }
            offset += n
        }
        return path
    }

    /// Touches every element of every tensor (strided gathers, byte swaps, dtype conversion) and
    /// then runs the recognizer, so bundles the reader accepted are exercised end to end.
    public static func exercise(_ bundle: TensorBundle) throws {
        var checksum: Float = 0
        for named in bundle.tensors {
            // Tensors view the input, so their size is bounded by it; refuse to materialise a
            // view that claims more (that would already be a reader bug caught by Tensor.init).
            guard named.tensor.count <= 1 << 24 else { continue }
            // The conversion to float32 reads every element; the sum keeps it from being dropped.
            // Summed through a buffer pointer: iterating the [Float] of `floats()` goes through
            // Array's generic iterator in this debug build, a heap-allocated accessor per element
            // under AddressSanitizer (16 M elements took ~15 s and tripped libFuzzer's 10 s slow-unit report).
            named.tensor.withContiguousBytes(as: .float32) { raw in
                let values = raw.bindMemory(to: Float.self)
                var index = 0
                while index < values.count {
                    checksum += values[index]
                    index += 1
                }
            }
        }
        withExtendedLifetime(checksum) {}
        _ = try Recognizer.recognize(bundle)
    }
}
