import AlexConvImages
import Foundation
import TestSupport
import Testing

@testable import AlexConv

/// Label sources (Caffe val.txt, CSV, synset folders, ImageFolder) and the bad inputs around them.
@Suite("Evaluation: labels and image folders")
struct EvaluationLabelTests {
    /// A folder with `files` (relative paths) holding copies of a fixture PNG, and a label file.
    static func folder(_ files: [String], labels: (name: String, text: String)? = nil) throws -> (root: String, labels: String?) {
        let root = FixturePaths.temporaryDirectory("labels")
        let png = try Data(contentsOf: URL(fileURLWithPath: FixturePaths.path("evaluate/digits/3/d0060.png")))
        for file in files {
            let url = URL(fileURLWithPath: root + "/" + file)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try png.write(to: url)
        }
        guard let labels else { return (root, nil) }
        let path = root + "/" + labels.name
        try labels.text.write(toFile: path, atomically: true, encoding: .utf8)
        return (root, path)
    }

    static func refusal(_ body: () throws -> Any) -> FormatError? {
        do {
            _ = try body()
            return nil
        } catch let error as FormatError {
            return error
        } catch {
            Issue.record("expected a FormatError, got \(error)")
            return nil
        }
    }

    @Test("Caffe val.txt: last space splits, CRLF, comments and blank lines, nested paths")
    func caffeList() throws {
        let (root, labels) = try Self.folder(["a b.png", "sub/c.png"], labels: ("val.txt", "# header comment\r\na b.png 3\r\n\r\n./sub/c.png\t7\r\n"))
        let set = try ImageSetLoader.labelled(root: root, labels: labels, classes: 10)
        #expect(set.source == .caffeList)
        #expect(set.images == [LabelledImage(path: "a b.png", label: 3), LabelledImage(path: "sub/c.png", label: 7)])
    }

    @Test("CSV: header found by name, quoted fields with commas and quotes, synset labels for 1000 classes")
    func csv() throws {
        let text = "id,label,file\n1,2,\"x, \"\"y\"\".png\"\n2,n15075141,plain.png\n"
        let (root, labels) = try Self.folder(["x, \"y\".png", "plain.png"], labels: ("labels.csv", text))
        let set = try ImageSetLoader.labelled(root: root, labels: labels, classes: 1000)
        #expect(set.source == .csv)
        #expect(set.images == [LabelledImage(path: "x, \"y\".png", label: 2), LabelledImage(path: "plain.png", label: 999)])
        // Without a header the first two columns are file and label.
        let plain = try Self.folder(["p.png"], labels: ("l.csv", "p.png,n01440764\n"))
        #expect(try ImageSetLoader.labelled(root: plain.root, labels: plain.labels, classes: 1000).images == [LabelledImage(path: "p.png", label: 0)])
    }

    @Test("label file problems name the file, the line and what was expected")
    func badLabelFiles() throws {
        let cases: [(String, String, Int, String)] = [
            ("val.txt", "a.png 10\n", 10, "label 10 is outside the model's 10 classes"),
            ("val.txt", "a.png -1\n", 10, "outside the model's 10 classes"),
            ("val.txt", "a.png\n", 10, "expected 'FILE LABEL'"),
            ("val.txt", "a.png three\n", 10, "is not a class index"),
            ("val.txt", "a.png 1\nb.png 2\na.png 3\n", 10, "listed again (first on line 1)"),
            ("val.txt", "/etc/passwd 1\n", 10, "absolute path"),
            ("val.txt", "../outside.png 1\n", 10, "leaves the image folder"),
            ("val.txt", "a.png n01440764\n", 10, "the model has 10 classes, not 1000"),
            ("val.txt", "a.png n00000001\n", 1000, "not one of the 1000 ILSVRC-2012 synsets"),
            ("val.txt", "# only comments\n\n", 10, "no labelled images"),
            ("l.csv", "file,label\n\"a.png,1\n", 10, "quoted field is not closed"),
            ("l.csv", "colour,size\nred,big\n", 10, "neither FILE,LABEL nor a header"),
            ("l.csv", "file,label\na.png\n", 10, "expected 2 comma-separated fields"),
        ]
        for (name, text, classes, message) in cases {
            let (root, labels) = try Self.folder(["a.png", "b.png"], labels: (name, text))
            defer { try? FileManager.default.removeItem(atPath: root) }
            let error = Self.refusal { try ImageSetLoader.labelled(root: root, labels: labels, classes: classes) }
            #expect(error?.file == labels, "\(text)")
            #expect(error?.detail.contains(message) == true, "\(text): \(error?.description ?? "no error")")
            #expect(error?.kind == .malformed && error?.exitCode == 3)
            if text.hasPrefix("a.png 1\nb.png") { #expect(error?.location == "line 3") }
            HostileCaseCounter.shared.add("label files")
        }
        // Not UTF-8: the line of the bad byte.
        let (root, labels) = try Self.folder(["a.png"], labels: ("val.txt", "a.png 1\n"))
        try Data([0x61, 0x20, 0x31, 0x0A, 0x62, 0xFF, 0x20, 0x32, 0x0A]).write(to: URL(fileURLWithPath: labels!))
        let error = Self.refusal { try ImageSetLoader.labelled(root: root, labels: labels, classes: 10) }
        #expect(error?.location == "line 2" && error?.detail == "not UTF-8 text")
        // A line beyond the limit is refused before it is split.
        try String(repeating: "x", count: ImageSetLoader.maxLineBytes + 1).write(toFile: labels!, atomically: true, encoding: .utf8)
        #expect(Self.refusal { try ImageSetLoader.labelled(root: root, labels: labels, classes: 10) }?.kind == .limit)
        HostileCaseCounter.shared.add("label files", 2)
    }

    @Test("synset folders map through the ILSVRC ids for 1000 classes; otherwise ImageFolder")
    func synsetFolders() throws {
        let (root, _) = try Self.folder(["n15075141/z.png", "n01440764/b.png", "n01440764/a.png", "n01443537/sub/c.png"])
        let set = try ImageSetLoader.labelled(root: root, labels: nil, classes: 1000)
        #expect(set.source == .synsetFolders)
        #expect(
            set.images == [
                LabelledImage(path: "n01440764/a.png", label: 0), LabelledImage(path: "n01440764/b.png", label: 0),
                LabelledImage(path: "n01443537/sub/c.png", label: 1), LabelledImage(path: "n15075141/z.png", label: 999),
            ])
        #expect(set.className(0, classes: 1000) == "tench (n01440764)")
        #expect(ImageNetClasses.synsets.count == 1000 && Set(ImageNetClasses.synsets).count == 1000 && ImageNetClasses.synsets == ImageNetClasses.synsets.sorted())
        // The same folders for a 3-class model: ImageFolder, in sorted order, with a note.
        let small = try ImageSetLoader.labelled(root: root, labels: nil, classes: 3)
        #expect(small.source == .imageFolder && small.images.map(\.label) == [0, 0, 1, 2])
        #expect(small.notes.contains { $0.contains("named like ILSVRC synsets") })
        // A WordNet-looking folder that is not an ILSVRC class is an error for a 1000-class model, not a silent renumbering.
        let (other, _) = try Self.folder(["n01440764/a.png", "n99999999/b.png"])
        let error = Self.refusal { try ImageSetLoader.labelled(root: other, labels: nil, classes: 1000) }
        #expect(error?.file == other + "/n99999999" && error?.detail.contains("not one of the 1000 ILSVRC-2012 synsets") == true)
    }

    @Test("ImageFolder sorts folders and files by code point as Python does, and walks links once")
    func imageFolderOrder() throws {
        let (root, _) = try Self.folder(["b/x.png", "B/y.PNG", "a/Z.jpg", "a/z.png", "a/notes.txt", "é/q.png"])
        try FileManager.default.createSymbolicLink(atPath: root + "/a/loop", withDestinationPath: root + "/a")
        let set = try ImageSetLoader.labelled(root: root, labels: nil, classes: 10)
        #expect(set.folderClasses == ["B", "a", "b", "é"])
        #expect(set.images.map(\.path) == ["B/y.PNG", "a/Z.jpg", "a/z.png", "b/x.png", "é/q.png"])
        #expect(set.images.map(\.label) == [0, 1, 1, 2, 3])
        #expect(set.notes.contains { $0.contains("4 class folders for a 10-class model") })
        #expect(set.className(2, classes: 10) == "b")
        // More folders than classes, and no folders at all.
        #expect(Self.refusal { try ImageSetLoader.labelled(root: root, labels: nil, classes: 3) }?.detail.contains("4 class folders, but the model has 3 classes") == true)
        let (flat, _) = try Self.folder(["a.png"])
        #expect(throws: UsageError.self) { try ImageSetLoader.labelled(root: flat, labels: nil, classes: 10) }
        #expect(throws: IOError.self) { try ImageSetLoader.labelled(root: flat + "/missing", labels: nil, classes: 10) }
    }

    @Test("a missing image and an unreadable one among good ones are counted and named; --strict stops; none readable is an error")
    func unreadableImages() throws {
        let model = try ModelLoader.load(path: FixturePaths.path("evaluate/digits_torch.pth"))
        let (root, labels) = try Self.folder(["good.png", "also.png"], labels: ("val.txt", "good.png 3\nmissing.png 3\nbroken.png 1\nalso.png 3\nnotes.bmp 2\n"))
        try Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0]).write(to: URL(fileURLWithPath: root + "/broken.png"))
        try Data("BM not really".utf8).write(to: URL(fileURLWithPath: root + "/notes.bmp"))
        var settings = EvaluationSettings()
        settings.progress = false
        settings.labels = labels
        let set = try ImageSetLoader.labelled(root: root, labels: labels, classes: 10)
        let result = try Evaluation.evaluate(model, name: "digits", set: set, settings: settings)
        #expect(result.evaluated == 2 && result.unreadable.map(\.image) == ["missing.png", "broken.png", "notes.bmp"])
        #expect(result.unreadable[0].reason.contains(root + "/missing.png"))
        #expect(result.unreadable[1].reason.contains("invalid PNG image"))
        #expect(result.text.contains("unreadable images (counted out of the accuracy):"))
        #expect(result.top1 == 100)  // both good copies are the same well-classified 3
        settings.strict = true
        do {
            _ = try Evaluation.evaluate(model, name: "digits", set: set, settings: settings)
            Issue.record("--strict accepted an unreadable image")
        } catch let error as UserFacingError {
            #expect(error.exitCode == 3 && error.description.contains("missing.png") && error.description.contains("--strict"))
        }
        let (empty, emptyLabels) = try Self.folder([], labels: ("val.txt", "gone.png 1\n"))
        settings.strict = false
        let none = try ImageSetLoader.labelled(root: empty, labels: emptyLabels, classes: 10)
        let error = Self.refusal { try Evaluation.evaluate(model, name: "digits", set: none, settings: settings) }
        #expect(error?.detail.contains("none of the 1 images could be read: first gone.png") == true)
        HostileCaseCounter.shared.add("evaluation images", 5)
    }
}
