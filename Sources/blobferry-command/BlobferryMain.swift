import BlobferryCLI

/// Entry point of `blobferry <command>`: the commands live in BlobferryCLI, the work in
/// Blobferry.
@main
enum Main {
    static func main() async {
        await BlobferryMain.blobferry()
    }
}
