import BlobferryCLI

await AdminCommand.main()
