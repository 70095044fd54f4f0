import Foundation
import AlexConvCore

/// Paths of committed fixtures and scratch space for tests.
public enum FixturePaths {
    /// The repository's `Fixtures/` folder.
    public static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("Fixtures").path
    }()

    /// Absolute path of `relative` inside `Fixtures/`.
    public static func path(_ relative: String) -> String { root + "/" + relative }

    /// A new empty temporary directory for one test.
    public static func temporaryDirectory(_ label: String = "test") -> String {
        let path = NSTemporaryDirectory() + "alexconv-\(label)-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

/// Largest |a - b| over elements compared index by index (never sorted).
public func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "lengths differ: \(a.count) vs \(b.count)")
    var worst: Float = 0
    for i in a.indices { worst = max(worst, abs(a[i] - b[i])) }
    return worst
}
