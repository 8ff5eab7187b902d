from tagger.tune.cli import main

main()
