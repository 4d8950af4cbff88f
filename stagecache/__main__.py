from stagecache.cli import main

main()
