import CargowatchCLI

Cargowatch.main()
