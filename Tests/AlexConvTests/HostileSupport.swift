import AlexConv
import Foundation
import TestSupport
import Testing

// MARK: - Loading a hostile file the way the CLI does

/// How one hostile input ended.
enum HostileOutcome {
    /// Refused with a user-facing error (the CLI prints `description` and exits with `exitCode`).
    case refused(any UserFacingError)
    /// Read and recognised (acceptable only where the damage is in weights, not structure).
    case read
}

/// Loads `path` through `ModelLoader.load` (the CLI's import on the fly) and checks the contract
/// for bad input: a `UserFacingError` with exit code 3 whose message is one line naming the file.
/// A thrown error of any other type is recorded as a failure.
func loadHostile(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) -> HostileOutcome {
    do {
        _ = try ModelLoader.load(path: path)
        return .read
    } catch let error as any UserFacingError {
        let message = error.description
        #expect(
            error.exitCode == ExitStatus.invalidInput, "\(path): exit code \(error.exitCode) for bad input: \(message)",
            sourceLocation: sourceLocation)
        #expect(!message.contains("\n"), "\(path): error spans lines: \(message)", sourceLocation: sourceLocation)
        let name = URL(fileURLWithPath: path).lastPathComponent
        #expect(message.contains(name), "\(path): error does not name the file: \(message)", sourceLocation: sourceLocation)
        return .refused(error)
    } catch {
        Issue.record("\(path): \(type(of: error)) is not a user-facing error: \(error)", sourceLocation: sourceLocation)
        return .read
    }
}

/// Loads `path` and requires a refusal whose message contains `expected` (when given).
@discardableResult
func expectRefusal(
    _ path: String, containing expected: String? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) -> String? {
    switch loadHostile(path, sourceLocation: sourceLocation) {
    case .read:
        Issue.record("\(path): hostile file was read without an error", sourceLocation: sourceLocation)
        return nil
    case .refused(let error):
        if let expected {
            #expect(error.description.contains(expected), "\(path): \(error.description)", sourceLocation: sourceLocation)
        }
        print("hostile: \(URL(fileURLWithPath: path).lastPathComponent): \(error.description)")
        return error.description
    }
}

// MARK: - Files

enum HostileFiles {
    /// Extensions of every committed file a user could hand to alexconv as a MODEL.
    static let weightExtensions = ["npy", "npz", "pth", "pt", "bin", "safetensors", "h5", "keras", "onnx", "pkl", "zip", "caffemodel"]

    /// Every committed weight-like fixture, as paths relative to Fixtures/ (sorted, stable).
    static let committedFixtures: [String] = {
        let root = FixturePaths.root
        guard let walker = FileManager.default.enumerator(atPath: root) else { return [] }
        var found: [String] = []
        while let relative = walker.nextObject() as? String {
            let ext = (relative as NSString).pathExtension.lowercased()
            guard weightExtensions.contains(ext) else { continue }
            found.append(relative)
        }
        return found.sorted()
    }()

    /// The bytes of a fixture.
    static func bytes(_ relative: String) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: FixturePaths.path(relative)) else {
            Issue.record("cannot read fixture \(relative)")
            return []
        }
        return [UInt8](data)
    }

    /// Writes `bytes` to a new temporary directory under the file name `name` and returns the path.
    static func write(_ bytes: [UInt8], named name: String, label: String = "hostile") -> String {
        let directory = FixturePaths.temporaryDirectory(label)
        let path = directory + "/" + name
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    /// Removes the temporary directory holding `path`.
    static func remove(_ path: String) {
        try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent)
    }
}

/// Counts hostile cases run, so the suite can report its size (printed when the test process exits).
final class HostileCaseCounter: @unchecked Sendable {
    static let shared: HostileCaseCounter = {
        atexit { print(HostileCaseCounter.shared.summary) }
        return HostileCaseCounter()
    }()
    private let lock = NSLock()
    private var counts: [String: Int] = [:]
    func add(_ group: String, _ n: Int = 1) { lock.withLock { counts[group, default: 0] += n } }
    var summary: String {
        lock.withLock {
            let total = counts.values.reduce(0, +)
            return "hostile cases: \(total) (" + counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + ")"
        }
    }
}
