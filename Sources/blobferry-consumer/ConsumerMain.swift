import BlobferryCLI

/// Entry point: argument parsing and the work itself live in BlobferryCLI and Blobferry.
@main
enum ConsumerMain {
    static func main() async {
        await ConsumerCommand.main()
    }
}
