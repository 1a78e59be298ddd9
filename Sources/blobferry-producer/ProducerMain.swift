import BlobferryCLI

/// Entry point: argument parsing and the work itself live in BlobferryCLI and Blobferry.
@main
enum ProducerMain {
    static func main() async {
        await ProducerCommand.main()
    }
}
