import AlexConv
import ArgumentParser

/// Options shared by the commands that run the forward pass (run, predict, verify, diff).
struct ForwardOptions: ParsableArguments {
    @Option(name: .long, help: "Threads for the forward pass (default: all cores).")
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    /// Sets the forward pass's thread count when --threads was given.
    func apply() {
        if let threads { Network.setThreads(threads) }
    }
}
