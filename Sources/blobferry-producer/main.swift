import BlobferryCLI

await ProducerCommand.main()
