import BlobferryCLI

/// Entry point of `blobferry-consumer`, the same command as `blobferry consumer`.
@main
enum ConsumerMain {
    static func main() async {
        await BlobferryMain.consumer()
    }
}
