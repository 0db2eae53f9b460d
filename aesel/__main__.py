from aesel.cli import main

main()
