import BlobferryCLI

/// Entry point: argument parsing and the work itself live in BlobferryCLI and Blobferry.
@main
enum AdminMain {
    static func main() async {
        await AdminCommand.main()
    }
}
