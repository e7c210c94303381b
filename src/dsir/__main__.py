from dsir.cli.main import main

main()
