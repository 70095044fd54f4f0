import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// MARK: - Progress line on stderr

/// A one-line progress report on stderr for work that takes longer than about a second
/// (reading, writing, forward passes over many images).
///
/// Nothing is printed when stderr is not a terminal, when `ProgressLine.enabled` is false (the CLI's
/// `--quiet`), or when the work finishes within `delay`. Updates are throttled and drawn with `\r`
/// on one line, which `finish()` clears. Safe to update from several threads. While one reporter
/// is live, reporters created inside it (a forward pass inside `verify`) stay silent: one line only.
public final class ProgressLine: @unchecked Sendable {
    /// Master switch (set false by `--quiet`); read once when a reporter is created.
    nonisolated(unsafe) public static var enabled = true
    /// Work shorter than this shows nothing.
    public static let delay: TimeInterval = 1.0
    /// Least time between two redraws.
    public static let interval: TimeInterval = 0.1

    private let label: String
    private let total: Int?
    private let unit: Unit
    private let start = Date()
    private let active: Bool
    private let lock = NSLock()
    private var completed = 0
    private var lastDraw: Date?
    private var drawn = false
    private var finished = false

    /// How counts are shown: bytes (`12.3 MB`) or items (`12/40 images`).
    public enum Unit: Sendable {
        case bytes
        case items(String)
    }

    /// A reporter for `label` (e.g. "writing model.pth"), counting up to `total` when known.
    public init(_ label: String, total: Int? = nil, unit: Unit = .bytes) {
        self.label = label
        self.total = total
        self.unit = unit
        let wanted = ProgressLine.enabled && isatty(2) != 0
        self.active = wanted && ProgressLine.claimLine()
    }

    /// Reporters alive that own the line (0 or 1).
    nonisolated(unsafe) private static var lineOwners = 0
    private static let ownersLock = NSLock()

    private static func claimLine() -> Bool {
        ownersLock.withLock {
            guard lineOwners == 0 else { return false }
            lineOwners = 1
            return true
        }
    }

    deinit { finish() }

    /// Sets the work done to `count` and redraws when due.
    public func update(completed count: Int) {
        guard active else { return }
        lock.withLock {
            completed = count
            drawIfDue()
        }
    }

    /// Clears the line (if anything was drawn). Called automatically when the reporter goes away.
    public func finish() {
        guard active else { return }
        lock.withLock {
            guard !finished else { return }
            finished = true
            if drawn { emit("\r\u{1B}[K") }
            ProgressLine.ownersLock.withLock { ProgressLine.lineOwners = 0 }
        }
    }

    private func drawIfDue() {
        guard !finished else { return }
        let now = Date()
        guard now.timeIntervalSince(start) >= ProgressLine.delay else { return }
        if let lastDraw, now.timeIntervalSince(lastDraw) < ProgressLine.interval { return }
        lastDraw = now
        drawn = true
        emit("\r\u{1B}[K" + line(elapsed: now.timeIntervalSince(start)))
    }

    private func line(elapsed: TimeInterval) -> String {
        var text = label + ": " + format(completed)
        if let total, total > 0 {
            text += " of " + format(total) + " (\(min(100, completed * 100 / total))%)"
        }
        return text + String(format: ", %.0fs", elapsed)
    }

    private func format(_ count: Int) -> String {
        switch unit {
        case .bytes:
            if count >= 1 << 20 { return String(format: "%.1f MB", Double(count) / 1_048_576) }
            if count >= 1 << 10 { return String(format: "%.0f KB", Double(count) / 1024) }
            return "\(count) bytes"
        case .items(let noun):
            return "\(count) \(noun)"
        }
    }

    private func emit(_ text: String) {
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    }
}
