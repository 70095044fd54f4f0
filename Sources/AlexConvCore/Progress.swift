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
///
/// Long runs over counted items (`evaluate`) ask for `.bar`: on a terminal a bar with the rate and
/// the time left; otherwise (a CI log) one plain line each time another `milestonePercent` of the
/// work is done.
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

    /// How the report looks: the plain count, or a bar with rate and time left (and, when stderr is
    /// not a terminal, a line every `milestonePercent`% of `total`).
    public enum Style: Sendable {
        case plain
        case bar(milestonePercent: Int)
    }

    private let style: Style
    /// Whether lines go to a log (not a terminal): milestone lines instead of redraws.
    private let logLines: Bool
    private var lastMilestone = 0
    /// Items already done when this reporter started (a resumed run): not counted in the rate.
    private var baseline = 0

    /// A reporter for `label` (e.g. "writing model.pth"), counting up to `total` when known.
    public init(_ label: String, total: Int? = nil, unit: Unit = .bytes, style: Style = .plain) {
        self.label = label
        self.total = total
        self.unit = unit
        self.style = style
        let terminal = isatty(2) != 0
        var wantsLog = false
        if case .bar(let step) = style, step > 0, !terminal, total != nil { wantsLog = true }
        let wanted = ProgressLine.enabled && (terminal || wantsLog)
        self.active = wanted && ProgressLine.claimLine()
        self.logLines = wantsLog
    }

    /// Marks `count` items as done before this reporter's work started (a resumed run): shown in the
    /// count, left out of the rate and the time left.
    public func start(from count: Int) {
        lock.withLock {
            baseline = count
            completed = count
            if case .bar(let step) = style, step > 0, let total, total > 0 { lastMilestone = count * 100 / total / step }
        }
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
        if logLines {
            // A log: one line per milestone, however fast.
            guard case .bar(let step) = style, let total, total > 0,
                now.timeIntervalSince(start) >= ProgressLine.delay
            else { return }
            let milestone = min(completed, total) * 100 / total / step
            guard milestone > lastMilestone else { return }
            lastMilestone = milestone
            emit(barLine(elapsed: now.timeIntervalSince(start), bar: false) + "\n")
            return
        }
        guard now.timeIntervalSince(start) >= ProgressLine.delay else { return }
        if let lastDraw, now.timeIntervalSince(lastDraw) < ProgressLine.interval { return }
        lastDraw = now
        drawn = true
        if case .bar = style {
            emit("\r\u{1B}[K" + barLine(elapsed: now.timeIntervalSince(start), bar: true))
        } else {
            emit("\r\u{1B}[K" + line(elapsed: now.timeIntervalSince(start)))
        }
    }

    private func line(elapsed: TimeInterval) -> String {
        var text = label + ": " + format(completed)
        if let total, total > 0 {
            text += " of " + format(total) + " (\(min(100, completed * 100 / total))%)"
        }
        return text + String(format: ", %.0fs", elapsed)
    }

    /// `label [#####.....] 500 of 5000 images (10%), 85.3 images/s, 53s left` (the bar on terminals only).
    private func barLine(elapsed: TimeInterval, bar: Bool) -> String {
        let total = self.total ?? 0
        let fraction = total > 0 ? min(1, Double(completed) / Double(total)) : 0
        var text = label + ": "
        if bar {
            let width = 24
            let filled = Int(fraction * Double(width))
            text += "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] "
        }
        text += total > 0 ? "\(completed) of \(total) \(noun) (\(Int(fraction * 100))%)" : format(completed)
        let done = completed - baseline
        if elapsed > 0, done > 0 {
            let rate = Double(done) / elapsed
            text += String(format: ", %.1f %@/s", rate, noun as NSString)
            if total > completed { text += ", " + ProgressLine.duration(Double(total - completed) / rate) + " left" }
        }
        return text + ", " + ProgressLine.duration(elapsed) + " elapsed"
    }

    private var noun: String {
        if case .items(let noun) = unit { return noun }
        return "bytes"
    }

    /// `42s`, `3m05s`, `2h07m`.
    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        if s < 60 { return "\(s)s" }
        if s < 3600 { return String(format: "%dm%02ds", s / 60, s % 60) }
        return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60)
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
