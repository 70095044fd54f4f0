import AlexConv
import ArgumentParser

struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Classify images (PNG, JPEG, PPM) with the model's recorded preprocessing; print the top-K labels.",
        discussion: "Resize (the spec's convention: shorter side or Caffe's warp), centre-crop, order channels and normalise exactly as the model's spec says; ImageNet labels for 1000 classes.")

    @Argument(help: "The model (any readable weight file).")
    var model: String

    @Argument(help: "Image files.")
    var images: [String]

    @Option(name: .long, help: "How many classes to list per image.")
    var top: Int = 5

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    @OptionGroup var importOptions: ImportOptions

    @OptionGroup var forwardOptions: ForwardOptions

    func validate() throws {
        if images.isEmpty { throw ValidationError("give at least one image") }
        if top < 1 { throw ValidationError("--top must be at least 1") }
    }

    func run() throws {
        forwardOptions.apply()
        let predictions = try ForwardTasks.predict(
            model: model, images: images, top: top,
            arch: importOptions.arch, map: importOptions.map, options: importOptions.readerOptions)
        print(json ? ForwardTasks.json(predictions) : ForwardTasks.text(predictions))
    }
}
