import BlobferryCLI

await ConsumerCommand.main()
