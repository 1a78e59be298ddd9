import BlobferryCLI

/// Entry point of `blobferry-producer`, the same command as `blobferry producer`.
@main
enum ProducerMain {
    static func main() async {
        await BlobferryMain.producer()
    }
}
